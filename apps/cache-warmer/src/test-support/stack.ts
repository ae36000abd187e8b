import { createPool, mergeBars, migrate, withTransaction, type BarRow } from '@backbone/db';
import {
  createTestDatabase,
  createTestKeyNamespace,
  testEndpoints,
  type TestDatabase as IsolatedDatabase,
  type TestResource,
} from '@backbone/testing';
import type pg from 'pg';

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

/** `count` consecutive 1m bars of `symbol` ending at `end` (exclusive), closes rising by 0.0001. */
export function minuteBars(symbol: string, end: Date, count: number, base = 1.1): (BarRow & { ts: Date })[] {
  const endMs = Math.floor(end.getTime() / 60_000) * 60_000;
  return Array.from({ length: count }, (_, i) => {
    const ts = new Date(endMs - (count - i) * 60_000);
    const close = Number((base + i * 0.0001).toFixed(5));
    return {
      symbol,
      timeframe: '1m',
      ts,
      open: close,
      high: close + 0.0002,
      low: close - 0.0002,
      close,
      volume: 100 + i,
      source: 'test',
    };
  });
}

/** Writes bars as one ingest run would (rows tagged with `runId`). */
export async function writeBars(pool: pg.Pool, bars: readonly BarRow[], runId: string): Promise<void> {
  await withTransaction(pool, (client) => mergeBars(client, bars, { runId }));
}

/** A unique key namespace for one test; dropped with SCAN + UNLINK. */
export function testNamespace(prefix: string): { prefix: string } & TestResource {
  return createTestKeyNamespace(testEndpoints().redisUrl, prefix);
}
