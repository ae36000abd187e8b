import { createPool, migrate } from '@backbone/db';
import {
  createTestDatabase,
  createTestKeyNamespace,
  testEndpoints,
  type TestDatabase as IsolatedDatabase,
  type TestResource,
} from '@backbone/testing';
import type pg from 'pg';

// The bar helpers are the cache tests' own: one copy for both.
export { minuteBars, writeBars } from '@backbone/cache/test-support';

/** The endpoints the global setup found. */
export const endpoints = testEndpoints;

/** A migrated database of its own for one test file, plus a pool on it; `drop()` removes both. */
export interface TestDatabase extends IsolatedDatabase {
  readonly pool: pg.Pool;
}

/** `createTestDatabase` of @backbone/testing, migrated, with a pool that `drop()` ends first. */
export async function createMigratedDatabase(prefix: string): Promise<TestDatabase> {
  const database = await createTestDatabase(prefix, { migrate });
  const pool = createPool({ url: database.url, poolSize: 20 });
  const drop = async (): Promise<void> => {
    await pool.end();
    await database.drop();
  };
  return { name: database.name, url: database.url, pool, drop, [Symbol.asyncDispose]: drop };
}

/** A unique key namespace for one test; dropped with SCAN + UNLINK. */
export function testNamespace(prefix: string): { prefix: string } & TestResource {
  return createTestKeyNamespace(testEndpoints().redisUrl, prefix);
}
