import { redactText } from '@backbone/config';
import pg from 'pg';

/** The database settings the pool needs; the `database` section of the backbone config fits. */
export interface DatabaseConfig {
  /** libpq connection URL. */
  url: string;
  /** Connections per process. */
  poolSize?: number;
  /** `statement_timeout` of every connection, so a stuck query cannot hold a worker forever. */
  statementTimeoutMs?: number;
  /** Shown in pg_stat_activity, so operators can tell which worker holds a connection. */
  applicationName?: string;
  /** How long to wait for a connection before failing. */
  connectionTimeoutMs?: number;
}

/**
 * Creates a pg pool with a statement timeout, an application name and error listeners on the
 * pool and on every connection. A connection dropped by the server emits 'error'; without a
 * listener Node would crash the process, so errors go to `onError` (default: a process warning
 * with the message redacted) and the pool replaces the broken connection.
 *
 * @example const pool = createPool(config.database, { applicationName: 'stream-bridge' });
 */
export function createPool(
  config: DatabaseConfig,
  options: { applicationName?: string; onError?: (error: Error) => void } = {},
): pg.Pool {
  const onError =
    options.onError ??
    ((error: Error) => {
      process.emitWarning(`database connection error: ${redactText(error.message)}`, 'DatabaseWarning');
    });
  const pool = new pg.Pool({
    connectionString: config.url,
    max: config.poolSize ?? 10,
    statement_timeout: config.statementTimeoutMs ?? 30_000,
    application_name: options.applicationName ?? config.applicationName ?? 'backbone',
    connectionTimeoutMillis: config.connectionTimeoutMs ?? 10_000,
  });
  pool.on('error', onError);
  pool.on('connect', (client) => {
    client.on('error', onError);
  });
  return pool;
}

/**
 * Runs `fn` in one transaction on one pooled connection: COMMIT when it resolves, ROLLBACK
 * when it throws. A connection whose ROLLBACK failed is destroyed, never returned to the pool.
 *
 * @example await withTransaction(pool, async (client) => { await mergeBars(client, bars); await insertOutboxEvent(client, event); });
 */
export async function withTransaction<T>(
  pool: pg.Pool,
  fn: (client: pg.PoolClient) => Promise<T>,
): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query('BEGIN');
    const value = await fn(client);
    await client.query('COMMIT');
    return value;
  } catch (error) {
    try {
      await client.query('ROLLBACK');
    } catch (rollbackError) {
      broken = rollbackError instanceof Error ? rollbackError : new Error(String(rollbackError));
    }
    throw error;
  } finally {
    client.release(broken);
  }
}
