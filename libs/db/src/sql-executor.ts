/**
 * The smallest surface the schema code needs from a database connection: a `pg` Client or
 * PoolClient satisfies it (and so does a `pg.Pool` for the read-only probes).
 *
 * Only one statement per call: parameters need the extended protocol, which takes one statement.
 */
export interface SqlExecutor {
  // R only names the row shape for the caller; no executor can check it, hence "used once".
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters
  query<R extends object = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<{ rows: R[] }>;
}
