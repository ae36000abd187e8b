import { createPool, mergeBars, migrate, withTransaction } from '@backbone/db';
import { createLogger } from '@backbone/telemetry';
import { createTestDatabase, type TestDatabase, waitFor } from '@backbone/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storageMaintenanceChild } from './storage-maintenance.ts';

describe('storage maintenance child', () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase('maintenance', { migrate });
  });
  afterAll(async () => {
    await database.drop();
  });

  it('rolls up every 1m bar on its first pass, recent ones later, and creates partitions ahead', async () => {
    const pool = createPool({ url: database.url, poolSize: 2 });
    // Two hours of 1m history ten days old: outside the recent window, inside the 30-day retention.
    const now = new Date();
    const old = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()) - 10 * 86_400_000;
    const bars = Array.from({ length: 120 }, (_, minute) => ({
      symbol: 'EURUSD',
      timeframe: '1m',
      ts: new Date(old + minute * 60_000),
      open: 1.1,
      high: 1.2,
      low: 1.0,
      close: 1.1 + minute / 1000,
      volume: 10,
      source: 'test',
    }));
    // mergeBars creates the ten-day-old partition that maintenance does not keep ahead.
    await withTransaction(pool, (client) => mergeBars(client, bars));
    const controller = new AbortController();
    const child = storageMaintenanceChild({
      pool,
      logger: createLogger({ name: 'maintenance-test', level: 'silent' }),
      intervalMs: 50,
      recentWindowMs: 3_600_000,
    });
    const running = child.start(controller.signal);
    try {
      const hours = await waitFor(
        async () => {
          const result = await pool.query<{ ts: Date; close: number; volume: number }>(
            "SELECT ts, close, volume FROM market_data.bars_1h WHERE symbol = 'EURUSD' ORDER BY ts",
          );
          return result.rows.length === 2 ? result.rows : undefined;
        },
        { description: 'two 1h rollup rows of the ten-day-old bars' },
      );
      expect(hours.map((row) => row.ts.getTime())).toEqual([old, old + 3_600_000]);
      expect(hours.map((row) => row.close)).toEqual([1.1 + 59 / 1000, 1.1 + 119 / 1000]);
      expect(hours.map((row) => row.volume)).toEqual([600, 600]);
      const ahead = await pool.query<{ count: string }>(
        `SELECT count(*) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
         WHERE i.inhparent = 'market_data.bars'::regclass`,
      );
      expect(Number(ahead.rows[0]?.count)).toBeGreaterThan(0);
    } finally {
      controller.abort();
      await running;
      await pool.end();
    }
  });
});
