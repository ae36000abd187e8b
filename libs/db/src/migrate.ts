import { MigrationDriftError, MigrationFailedError, StorageModeError } from './errors.ts';
import { loadMigrations, MIGRATIONS_DIR, type Migration } from './migration-files.ts';
import type { SqlExecutor } from './sql-executor.ts';
import { applyStoragePolicies, type PolicyChange } from './storage-policies.ts';
import {
  detectStorageMode,
  recordedStorageMode,
  timescaleAvailability,
  type StorageMode,
} from './storage-mode.ts';
import { resolveStorageOptions, type StorageOptionsInput } from './storage-options.ts';

/** Options of {@link migrate}. */
export interface MigrateOptions {
  /** 'auto' (default): TimescaleDB when the extension is available, plain partitioning otherwise. */
  mode?: StorageMode | 'auto';
  /** Report what would run without changing anything. */
  dryRun?: boolean;
  /** Retention, chunking and compression; defaults fill what is missing. */
  storage?: StorageOptionsInput;
  /** Where the migration files are; the library's own directory unless given. */
  migrationsDir?: URL;
}

/** The migrations a run found applied, applied now, or (dry run) would apply. */
export interface MigrateResult {
  mode: StorageMode;
  dryRun: boolean;
  alreadyApplied: { version: number; name: string }[];
  applied: { version: number; name: string; durationMs: number }[];
  pending: { version: number; name: string }[];
  policies: PolicyChange[];
  partitionsCreated: string[];
  /** What the operator should know, e.g. why auto mode chose plain PostgreSQL; printed by the CLI. */
  warnings: string[];
}

// Any constant works, as long as every process uses the same one: it serialises migrate runs.
const MIGRATE_LOCK_KEY = '7342021133337091234';

/**
 * Applies the pending migrations, each in its own transaction and recorded in
 * `backbone.schema_migrations`, then reconciles the storage policies with the options. Holds a
 * session advisory lock for the whole run, so concurrent runs apply each migration once. Needs
 * one dedicated connection (a pg Client or PoolClient), not a pool.
 *
 * @example const result = await migrate(client, { storage: config.storage });
 */
export async function migrate(client: SqlExecutor, options: MigrateOptions = {}): Promise<MigrateResult> {
  const storage = resolveStorageOptions(options.storage);
  const dryRun = options.dryRun ?? false;
  if (!dryRun) await client.query('SELECT pg_advisory_lock($1::bigint)', [MIGRATE_LOCK_KEY]);
  try {
    if (!dryRun) await bootstrap(client);
    const { mode, warnings } = await chooseMode(client, options.mode ?? 'auto');
    const migrations = loadMigrations(mode, options.migrationsDir ?? MIGRATIONS_DIR);
    const done = await appliedMigrations(client);
    checkDrift(migrations, done);
    const pending = migrations.filter((m) => !done.has(m.version));
    const result: MigrateResult = {
      mode,
      dryRun,
      alreadyApplied: migrations
        .filter((m) => done.has(m.version))
        .map(({ version, name }) => ({ version, name })),
      applied: [],
      pending: pending.map(({ version, name }) => ({ version, name })),
      policies: [],
      partitionsCreated: [],
      warnings,
    };
    if (dryRun) return result;
    for (const migration of pending) {
      const started = performance.now();
      await applyOne(client, migration, mode);
      result.applied.push({
        version: migration.version,
        name: migration.name,
        durationMs: Math.round(performance.now() - started),
      });
    }
    result.pending = [];
    const policies = await inTransaction(client, () => applyStoragePolicies(client, mode, storage));
    result.policies = policies.changes;
    result.partitionsCreated = policies.partitionsCreated;
    return result;
  } finally {
    if (!dryRun) await client.query('SELECT pg_advisory_unlock($1::bigint)', [MIGRATE_LOCK_KEY]);
  }
}

async function inTransaction<T>(client: SqlExecutor, fn: () => Promise<T>): Promise<T> {
  await client.query('BEGIN');
  try {
    const value = await fn();
    await client.query('COMMIT');
    return value;
  } catch (error) {
    await client.query('ROLLBACK');
    throw error;
  }
}

async function bootstrap(client: SqlExecutor): Promise<void> {
  await client.query('CREATE SCHEMA IF NOT EXISTS backbone');
  await client.query(
    `CREATE TABLE IF NOT EXISTS backbone.schema_migrations (
       version integer PRIMARY KEY,
       name text NOT NULL,
       checksum text NOT NULL,
       mode text NOT NULL,
       applied_at timestamptz NOT NULL DEFAULT now(),
       duration_ms integer NOT NULL
     )`,
  );
}

const NOT_PRELOADED_FIX =
  "add shared_preload_libraries = 'timescaledb' to postgresql.conf and restart the server";

async function chooseMode(
  client: SqlExecutor,
  requested: StorageMode | 'auto',
): Promise<{ mode: StorageMode; warnings: string[] }> {
  const recorded = await recordedStorageMode(client);
  if (recorded !== undefined) {
    if (requested !== 'auto' && requested !== recorded) {
      throw new StorageModeError(
        `the database was migrated in ${recorded} mode; it cannot switch to ${requested} in place`,
      );
    }
    return { mode: recorded, warnings: [] };
  }
  if (requested === 'postgres-partitioned') return { mode: requested, warnings: [] };
  const availability = await timescaleAvailability(client);
  if (requested === 'timescaledb' && availability === 'not-preloaded') {
    // CREATE EXTENSION would end the session with a FATAL error and the migration would only
    // report a broken connection; say what the server needs instead.
    throw new StorageModeError(
      `TimescaleDB mode was asked for but the server does not preload timescaledb: ${NOT_PRELOADED_FIX}`,
    );
  }
  if (requested === 'timescaledb') return { mode: requested, warnings: [] };
  if (availability === 'not-preloaded') {
    // The mode is chosen once and recorded: say so now, before plain partitioning is for good.
    return {
      mode: 'postgres-partitioned',
      warnings: [
        `chose plain PostgreSQL partitioning: TimescaleDB is installed on this server but not in shared_preload_libraries; to use TimescaleDB, ${NOT_PRELOADED_FIX} before the first migrate of a database (once migrated, a database keeps its mode)`,
      ],
    };
  }
  return { mode: await detectStorageMode(client), warnings: [] };
}

async function appliedMigrations(
  client: SqlExecutor,
): Promise<Map<number, { name: string; checksum: string }>> {
  const exists = await client.query<{ exists: boolean }>(
    `SELECT to_regclass('backbone.schema_migrations') IS NOT NULL AS exists`,
  );
  if (exists.rows[0]?.exists !== true) return new Map();
  const rows = await client.query<{ version: number; name: string; checksum: string }>(
    'SELECT version, name, checksum FROM backbone.schema_migrations ORDER BY version',
  );
  return new Map(rows.rows.map((row) => [row.version, { name: row.name, checksum: row.checksum }]));
}

function checkDrift(migrations: Migration[], done: Map<number, { name: string; checksum: string }>): void {
  const known = new Map(migrations.map((m) => [m.version, m]));
  for (const [version, applied] of done) {
    const migration = known.get(version);
    if (migration === undefined) {
      throw new MigrationDriftError(
        `migration ${version} (${applied.name}) is applied but unknown to this code; the database is newer`,
        version,
      );
    }
    if (migration.checksum !== applied.checksum) {
      throw new MigrationDriftError(
        `migration ${migration.file} changed after it was applied; add a new migration instead`,
        version,
      );
    }
  }
}

async function applyOne(client: SqlExecutor, migration: Migration, mode: StorageMode): Promise<void> {
  const started = performance.now();
  await client.query('BEGIN');
  let index = 0;
  try {
    for (; index < migration.statements.length; index += 1) {
      await client.query(migration.statements[index] ?? '');
    }
    await client.query(
      `INSERT INTO backbone.schema_migrations (version, name, checksum, mode, duration_ms) VALUES ($1, $2, $3, $4, $5)`,
      [migration.version, migration.name, migration.checksum, mode, Math.round(performance.now() - started)],
    );
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK');
    throw new MigrationFailedError(migration.version, migration.file, index, error);
  }
}
