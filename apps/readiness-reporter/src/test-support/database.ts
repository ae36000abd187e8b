import { createPool, migrate } from '@backbone/db';
import {
  createTestDatabase as createIsolatedDatabase,
  testEndpoints,
  type TestDatabase as IsolatedDatabase,
} from '@backbone/testing';
import type pg from 'pg';

/** A database of its own for one test file (the migrations use fixed schema names), with a pool. */
export interface TestDatabase extends IsolatedDatabase {
  readonly pool: pg.Pool;
}

/**
 * `createTestDatabase` of @backbone/testing, migrated unless `migrated: false`, with a pool that
 * `drop()` ends first. `serverUrl` must be the test run's server (`endpoints().databaseUrl`),
 * the only one that helper creates databases on.
 *
 * @example const db = await createTestDatabase(endpoints().databaseUrl, 'readiness'); afterAll(() => db.drop());
 */
export async function createTestDatabase(
  serverUrl: string,
  prefix: string,
  { migrated = true }: { migrated?: boolean } = {},
): Promise<TestDatabase> {
  if (serverUrl !== testEndpoints().databaseUrl)
    throw new Error("createTestDatabase creates databases on the test run's server only");
  const database = await createIsolatedDatabase(prefix, migrated ? { migrate } : {});
  const pool = createPool({ url: database.url, poolSize: 4, statementTimeoutMs: 10_000 });
  const drop = async (): Promise<void> => {
    await pool.end();
    await database.drop();
  };
  return { name: database.name, url: database.url, pool, drop, [Symbol.asyncDispose]: drop };
}
