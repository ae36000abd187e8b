import type { SqlExecutor } from './sql-executor.ts';

/** How the market data tables are stored; code above the schema never depends on it. */
export type StorageMode = 'timescaledb' | 'postgres-partitioned';

export const STORAGE_MODES: readonly StorageMode[] = ['timescaledb', 'postgres-partitioned'];

/**
 * The storage mode of a database: the mode its migrations were applied in, or, for a database
 * not migrated yet, the mode `migrate()` would choose (TimescaleDB when the extension is available).
 *
 * @example if ((await storageMode(client)) === 'timescaledb') { ... }
 */
export async function storageMode(client: SqlExecutor): Promise<StorageMode> {
  return (await recordedStorageMode(client)) ?? (await detectStorageMode(client));
}

/** The mode recorded by applied migrations, or undefined when none are applied. */
export async function recordedStorageMode(client: SqlExecutor): Promise<StorageMode | undefined> {
  const table = await client.query<{ exists: boolean }>(
    `SELECT to_regclass('backbone.schema_migrations') IS NOT NULL AS exists`,
  );
  if (table.rows[0]?.exists !== true) return undefined;
  const recorded = await client.query<{ mode: StorageMode }>(
    'SELECT mode FROM backbone.schema_migrations ORDER BY version LIMIT 1',
  );
  return recorded.rows[0]?.mode;
}

/**
 * TimescaleDB when this database can use the extension, plain partitioning otherwise. Installed
 * files are not enough: without `shared_preload_libraries = 'timescaledb'` the server ends the
 * session with a FATAL error at `CREATE EXTENSION`, so an installed but not preloaded extension
 * counts as absent (a database that already has the extension created was preloaded then).
 */
export async function detectStorageMode(client: SqlExecutor): Promise<StorageMode> {
  return (await timescaleAvailability(client)) === 'usable' ? 'timescaledb' : 'postgres-partitioned';
}

/** Whether TimescaleDB can be used here: `not-installed`, `not-preloaded` or `usable`. */
export type TimescaleAvailability = 'not-installed' | 'not-preloaded' | 'usable';

/** Asks the server whether the extension is installed, preloaded, or already created in this database. */
export async function timescaleAvailability(client: SqlExecutor): Promise<TimescaleAvailability> {
  const result = await client.query<{ available: boolean; preloaded: boolean; created: boolean }>(
    `SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb') AS available,
            coalesce(current_setting('shared_preload_libraries', true), '') ~ '(^|[,\s])timescaledb($|[,\s])' AS preloaded,
            EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') AS created`,
  );
  const row = result.rows[0];
  if (row?.available !== true) return 'not-installed';
  return row.preloaded || row.created ? 'usable' : 'not-preloaded';
}
