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

/** TimescaleDB when the server offers the extension, plain partitioning otherwise. */
export async function detectStorageMode(client: SqlExecutor): Promise<StorageMode> {
  const result = await client.query<{ available: boolean }>(
    `SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb') AS available`,
  );
  return result.rows[0]?.available === true ? 'timescaledb' : 'postgres-partitioned';
}
