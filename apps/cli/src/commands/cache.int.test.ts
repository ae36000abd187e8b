import { randomUUID } from 'node:crypto';
import { CacheClient, createCacheRedis, createMarketDatasets, redisReady } from '@backbone/cache';
import { createPool, mergeBars, migrate, withTransaction } from '@backbone/db';
import {
  createTestDatabase,
  createTestKeyNamespace,
  testEndpoints,
  type TestDatabase,
  type TestResource,
} from '@backbone/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backbone } from '../e2e/processes.ts';

const SYMBOL = 'STATSUSD';
const LATEST = { dataset: 'latest-bar', symbol: SYMBOL, timeframe: '1m' } as const;

interface PrintedStats {
  datasets: { dataset: string; hits: number; misses: number; hitRatio: number | null; loads: number }[];
}

/**
 * `./backbone cache stats` reads the counters every process shares in Redis: reads through the
 * read-through client (in this process and in a `./backbone cache get` process) move the hit
 * ratio it prints.
 */
describe('./backbone cache stats', { timeout: 120_000 }, () => {
  const { redisUrl } = testEndpoints();
  const env = { PATH: '/usr/bin:/bin' };
  let database: TestDatabase;
  let namespace: { prefix: string } & TestResource;
  let common: string[];

  beforeAll(async () => {
    database = await createTestDatabase('cli_cache', { migrate });
    namespace = createTestKeyNamespace(redisUrl, 'cli_cache');
    common = [
      '--set',
      `database.url=${database.url}`,
      '--set',
      `redis.url=${redisUrl}`,
      '--set',
      `redis.keyNamespace=${namespace.prefix}`,
    ];
    const pool = createPool({ url: database.url, poolSize: 1 });
    try {
      const ts = new Date(Math.floor(Date.now() / 60_000) * 60_000 - 60_000);
      await withTransaction(pool, (client) =>
        mergeBars(
          client,
          [
            {
              symbol: SYMBOL,
              timeframe: '1m',
              ts,
              open: 1,
              high: 1.1,
              low: 0.9,
              close: 1.05,
              volume: 10,
              source: 'test',
            },
          ],
          { runId: randomUUID() },
        ),
      );
    } finally {
      await pool.end();
    }
  }, 60_000);
  afterAll(async () => {
    await namespace.drop();
    await database.drop();
  });

  async function stats(): Promise<{ json: PrintedStats; table: string }> {
    const json = await backbone(['cache', 'stats', '--json', ...common], env);
    expect(json.code, json.stderr).toBe(0);
    const table = await backbone(['cache', 'stats', ...common], env);
    expect(table.code, table.stderr).toBe(0);
    return { json: JSON.parse(json.stdout) as PrintedStats, table: table.stdout };
  }

  it('prints hit ratios that reads through the read-through client moved', async () => {
    const before = await stats();
    expect(before.json.datasets.find((s) => s.dataset === 'latest-bar')).toMatchObject({
      hits: 0,
      misses: 0,
      hitRatio: null,
    });
    expect(before.table).toMatch(/^latest-bar\s+0\s+0\s+-\s/m);

    // A downstream service: one miss (loaded from the database), then three hits.
    const pool = createPool({ url: database.url, poolSize: 2 });
    const redis = createCacheRedis(
      { url: redisUrl, tls: { enabled: false, rejectUnauthorized: true } },
      { onError: () => undefined },
    );
    await redisReady(redis, 2_000);
    const cache = new CacheClient({
      redis,
      keyNamespace: namespace.prefix,
      datasets: createMarketDatasets(pool, {
        latestBar: { enabled: true },
        recentBars: { enabled: true, count: 10 },
        rollups: { enabled: true, days: 2 },
        macroCalendar: { enabled: true, days: 7 },
      }),
      policy: { ttlSeconds: 300, maxKeysPerDataset: 100, staleGraceSeconds: 30 },
    });
    try {
      const sources = [];
      for (let i = 0; i < 4; i++) sources.push((await cache.get(LATEST)).source);
      expect(sources).toEqual(['loaded', 'cache', 'cache', 'cache']);
    } finally {
      // close() flushes this client's counts into the shared hash.
      await cache.close();
      redis.disconnect();
      await pool.end();
    }
    // An operator's read in another process: one more hit.
    const read = await backbone(['cache', 'get', 'latest-bar', SYMBOL, '--timeframe', '1m', ...common], env);
    expect(read.code, read.stderr).toBe(0);
    expect(JSON.parse(read.stdout)).toMatchObject({ source: 'cache', status: 'healthy' });

    const after = await stats();
    expect(after.json.datasets.find((s) => s.dataset === 'latest-bar')).toMatchObject({
      hits: 4,
      misses: 1,
      hitRatio: 0.8,
      loads: 1,
    });
    expect(after.table).toMatch(/^latest-bar\s+4\s+1\s+80\.0%\s/m);
    // Datasets nobody read keep no ratio.
    expect(after.json.datasets.find((s) => s.dataset === 'recent-bars')?.hitRatio).toBeNull();
  });
});
