import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { MigrationSetError } from './errors.ts';
import { STORAGE_MODES, type StorageMode } from './storage-mode.ts';

/** One versioned migration, resolved for a storage mode. */
export interface Migration {
  version: number;
  name: string;
  file: string;
  checksum: string;
  statements: string[];
}

/** The directory shipped with this library: `libs/db/migrations` (also from `dist/`). */
export const MIGRATIONS_DIR = new URL('../migrations/', import.meta.url);

// 0002_market_data.sql applies in every mode; 0002_market_data.timescaledb.sql only in that mode.
const FILE_NAME = /^(\d{4})_([a-z0-9_]+?)(?:\.(timescaledb|postgres-partitioned))?\.sql$/;

// The statement separator drizzle-kit writes into generated migrations.
const BREAKPOINT = /^\s*-->\s*statement-breakpoint\s*$/m;

/**
 * Reads the migration files for one storage mode, in version order. A version either has one
 * file for every mode or one variant per mode; versions start at 1 and have no gaps.
 *
 * @example const pending = loadMigrations('postgres-partitioned').filter((m) => m.version > 2);
 */
export function loadMigrations(mode: StorageMode, directory: URL = MIGRATIONS_DIR): Migration[] {
  const byVersion = new Map<number, { name: string; files: Map<StorageMode | 'all', string> }>();
  for (const file of readdirSync(directory).sort()) {
    if (!file.endsWith('.sql')) continue;
    const match = FILE_NAME.exec(file);
    if (match === null) {
      throw new MigrationSetError(`migration file name ${file} is not NNNN_name[.mode].sql`, { file });
    }
    const version = Number(match[1]);
    const name = match[2] ?? '';
    const variant = (match[3] as StorageMode | undefined) ?? 'all';
    const entry = byVersion.get(version) ?? { name, files: new Map() };
    if (entry.name !== name) {
      throw new MigrationSetError(`migration ${version} has two names: ${entry.name} and ${name}`, { file });
    }
    entry.files.set(variant, file);
    byVersion.set(version, entry);
  }

  const migrations: Migration[] = [];
  const versions = [...byVersion.keys()].sort((a, b) => a - b);
  versions.forEach((version, index) => {
    if (version !== index + 1) throw new MigrationSetError(`migration versions have a gap before ${version}`);
    const entry = byVersion.get(version);
    if (entry === undefined) return;
    const common = entry.files.get('all');
    const variants = STORAGE_MODES.filter((m) => entry.files.has(m));
    if (common !== undefined && variants.length > 0) {
      throw new MigrationSetError(`migration ${version} has both a common file and a per-mode variant`, {
        file: common,
      });
    }
    if (common === undefined && variants.length !== STORAGE_MODES.length) {
      throw new MigrationSetError(`migration ${version} needs a variant for every storage mode`);
    }
    const file = common ?? entry.files.get(mode) ?? '';
    const sql = readFileSync(new URL(file, directory), 'utf8');
    const statements = sql
      .split(BREAKPOINT)
      .map((statement) => statement.trim())
      .filter((statement) => stripComments(statement) !== '');
    migrations.push({
      version,
      name: entry.name,
      file,
      checksum: createHash('sha256').update(sql).digest('hex'),
      statements,
    });
  });
  return migrations;
}

function stripComments(sql: string): string {
  return sql.replace(/^\s*--.*$/gm, '').trim();
}
