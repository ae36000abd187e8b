/**
 * The smallest surface the schema code needs from a database connection. A `pg` Client or
 * PoolClient and a PGlite instance both satisfy it, so migrations and storage maintenance run
 * unchanged against the real PostgreSQL server and against PGlite with TimescaleDB in tests.
 *
 * Only one statement per call: PGlite's `query` uses the extended protocol.
 */
export interface SqlExecutor {
  // R only names the row shape for the caller; no executor can check it, hence "used once".
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters
  query<R extends object = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<{ rows: R[] }>;
}
