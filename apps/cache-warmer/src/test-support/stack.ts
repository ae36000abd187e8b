import { migrate, mergeBars, withTransaction, createPool, type BarRow } from '@backbone/db';
import { createTestKeyNamespace, uniqueName } from '@backbone/testing';
import pg from 'pg';
import { inject } from 'vitest';

/** The endpoints the global setup found. */
export function endpoints(): { databaseUrl: string; redisUrl: string; kafkaBrokers: string[] } {
  return inject('endpoints');
}

/** A migrated database of its own for one test file, plus a pool on it; `drop()` removes both. */
export interface TestDatabase {
  url: string;
  pool: pg.Pool;
  drop(): Promise<void>;
}

export async function createMigratedDatabase(prefix: string): Promise<TestDatabase> {
  const server = new URL(endpoints().databaseUrl);
  const name = uniqueName(prefix);
  const adminUrl = Object.assign(new URL(server), { pathname: '/postgres' }).toString();
  const url = Object.assign(new URL(server), { pathname: `/${name}` }).toString();
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await migrate(client);
  } finally {
    await client.end();
  }
  const pool = createPool({ url, poolSize: 20 });
  return {
    url,
    pool,
    async drop() {
      await pool.end();
      const dropper = new pg.Client({ connectionString: adminUrl });
      await dropper.connect();
      try {
        await dropper.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await dropper.end();
      }
    },
  };
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
export function testNamespace(prefix: string): ReturnType<typeof createTestKeyNamespace> {
  return createTestKeyNamespace(endpoints().redisUrl, prefix);
}
