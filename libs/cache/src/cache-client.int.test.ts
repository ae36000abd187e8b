import { randomUUID } from 'node:crypto';
import { createPool, migrate, refreshRollups } from '@backbone/db';
import {
  createTestDatabase,
  createTestKeyNamespace,
  freePort,
  startTcpProxy,
  testEndpoints,
  waitFor,
  type TcpProxy,
  type TestDatabase,
  type TestResource,
} from '@backbone/testing';
import type { Redis } from 'ioredis';
import type pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CacheClient, type CachePolicy } from './cache-client.ts';
import {
  createMarketDatasets,
  type CachedBar,
  type DatasetDefinition,
  type DatasetRegistry,
} from './datasets.ts';
import { CacheLoadError } from './errors/cache-load-error.ts';
import type { CacheRequest } from './keys.ts';
import { createCacheRedis, redisReady } from './redis.ts';
import { readCacheStats } from './stats.ts';
import { minuteBars, writeBars } from './test-support/bars.ts';

const SETTINGS = {
  latestBar: { enabled: true },
  recentBars: { enabled: true, count: 50 },
  rollups: { enabled: true, days: 2 },
  macroCalendar: { enabled: true, days: 7 },
};
const POLICY: CachePolicy = { ttlSeconds: 60, maxKeysPerDataset: 100, staleGraceSeconds: 30 };
const LATEST: CacheRequest = { dataset: 'latest-bar', symbol: 'EURUSD', timeframe: '1m' };

let db: TestDatabase;
let pool: pg.Pool;
let datasets: DatasetRegistry;
const cleanup: (() => Promise<unknown>)[] = [];
// The newest stored bar; rows end one minute before this.
const END = new Date(Math.floor(Date.now() / 3_600_000) * 3_600_000 - 3_600_000);
const RUN_1 = randomUUID();

beforeAll(async () => {
  db = await createTestDatabase('cache_client', { migrate });
  pool = createPool({ url: db.url, poolSize: 20 });
  datasets = createMarketDatasets(pool, SETTINGS);
  await writeBars(pool, minuteBars('EURUSD', END, 600), RUN_1);
  await refreshRollups(pool, { from: new Date(END.getTime() - 600 * 60_000), to: END });
  const runMacro = randomUUID();
  await pool.query(
    `INSERT INTO market_data.macro_events (source, event_id, ts, name, currency, importance, ingest_run_id) VALUES
       ('fred', 'past', now() - interval '1 day', 'Past CPI', 'USD', 'high', $1),
       ('fred', 'soon', now() + interval '1 day', 'Payrolls', 'USD', 'high', $1),
       ('ecb', 'later', now() + interval '3 days', 'ECB rate', 'EUR', 'high', $1),
       ('fred', 'far', now() + interval '20 days', 'GDP', 'USD', 'medium', $1)`,
    [runMacro],
  );
});
afterEach(async () => {
  for (const close of cleanup.splice(0).reverse()) await close();
});
afterAll(async () => {
  await pool.end();
  await db.drop();
});

/** A cache client on its own Redis connection, under `ns`; closed after the test. */
async function client(
  ns: { prefix: string },
  options: Partial<ConstructorParameters<typeof CacheClient>[0]> & {
    redisUrl?: string;
    unreachable?: boolean;
  } = {},
): Promise<{ cache: CacheClient; redis: Redis }> {
  const redis = createCacheRedis(
    { url: options.redisUrl ?? testEndpoints().redisUrl, tls: { enabled: false, rejectUnauthorized: true } },
    { onError: () => undefined },
  );
  if (options.unreachable !== true) await redisReady(redis, 2_000);
  const cache = new CacheClient({ redis, keyNamespace: ns.prefix, datasets, policy: POLICY, ...options });
  cleanup.push(async () => {
    await cache.close();
    redis.disconnect();
  });
  return { cache, redis };
}

function namespace(prefix: string): TestResource & { prefix: string } {
  const ns = createTestKeyNamespace(testEndpoints().redisUrl, prefix);
  cleanup.push(() => ns.drop());
  return ns;
}

/** Wraps a dataset's loader to count calls and optionally hold them until `gate` resolves. */
function counted<T>(
  definition: DatasetDefinition<T> | undefined,
  gate: () => Promise<unknown> = () => Promise.resolve(),
) {
  if (definition === undefined) throw new Error('dataset missing');
  const counter = { loads: 0 };
  const wrapped: DatasetDefinition<T> = {
    ...definition,
    async load(request, signal) {
      counter.loads++;
      await gate();
      return definition.load(request, signal);
    },
  };
  return { counter, wrapped };
}

const lastBar = minuteBars('EURUSD', END, 600).at(-1);

/** Every key matching `pattern`, by SCAN (never KEYS on the shared server). */
async function scanKeys(redis: Redis, pattern: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const batch of redis.scanStream({ match: pattern, count: 500 }))
    keys.push(...(batch as string[]));
  return keys.sort();
}

describe('every dataset', () => {
  it('loads latest-bar, recent-bars, rollups and macro-calendar once, then serves hits with provenance', async () => {
    const ns = namespace('datasets');
    const { cache } = await client(ns);

    const latest = await cache.get<CachedBar | null>(LATEST);
    expect(latest.source).toBe('loaded');
    expect(latest.envelope.data?.ts).toBe(lastBar?.ts.toISOString());
    expect(latest.envelope.maxTs).toBe(lastBar?.ts.toISOString());
    expect(latest.envelope.sourceRunId).toBe(RUN_1);
    expect((await cache.get(LATEST)).source).toBe('cache');

    const recent = await cache.get<CachedBar[]>({
      dataset: 'recent-bars',
      symbol: 'EURUSD',
      timeframe: '1m',
    });
    expect(recent.envelope.data).toHaveLength(50);
    expect(recent.envelope.data.at(-1)?.ts).toBe(lastBar?.ts.toISOString());
    expect((recent.envelope.data[0]?.ts ?? '') < (recent.envelope.data[1]?.ts ?? '')).toBe(true);

    const hourly = await cache.get<{ ts: string; barCount: number }[]>({
      dataset: 'rollups',
      symbol: 'EURUSD',
      timeframe: '1h',
    });
    expect(hourly.envelope.data).toHaveLength(10);
    expect(hourly.envelope.data.every((bucket) => bucket.barCount === 60)).toBe(true);
    expect(hourly.envelope.sourceRunId).toBe(RUN_1);
    const daily = await cache.get<{ barCount: number }[]>({
      dataset: 'rollups',
      symbol: 'EURUSD',
      timeframe: '1d',
    });
    expect(daily.envelope.data.reduce((sum, bucket) => sum + bucket.barCount, 0)).toBe(600);

    const usd = await cache.get<{ eventId: string }[]>({ dataset: 'macro-calendar', symbol: 'USD' });
    expect(usd.envelope.data.map((event) => event.eventId)).toEqual(['soon']);
    const all = await cache.get<{ eventId: string }[]>({ dataset: 'macro-calendar', symbol: 'ALL' });
    expect(all.envelope.data.map((event) => event.eventId)).toEqual(['soon', 'later']);

    await cache.flushStats();
    const stats = await readCacheStats((await client(ns)).redis, ns.prefix);
    const latestStats = stats.find((s) => s.dataset === 'latest-bar');
    expect(latestStats).toMatchObject({ hits: 1, misses: 1, loads: 1, hitRatio: 0.5 });
  });

  it('refuses malformed requests before they reach a key', async () => {
    const { cache } = await client(namespace('bad'));
    await expect(cache.get({ dataset: 'latest-bar', symbol: 'EUR:USD', timeframe: '1m' })).rejects.toThrow(
      /symbol/,
    );
    await expect(cache.get({ dataset: 'latest-bar', symbol: 'EURUSD' })).rejects.toThrow(/timeframe/);
    await expect(cache.get({ dataset: 'rollups', symbol: 'EURUSD', timeframe: '1m' })).rejects.toThrow(
      /rollups has/,
    );
  });
});

describe('invalidation across processes', () => {
  it('a version bump by one client makes the other reload the new data; the old value is never served', async () => {
    const ns = namespace('invalidate');
    const a = await client(ns);
    const b = await client(ns);
    const symbol = 'GBPUSD';
    const request: CacheRequest = { dataset: 'latest-bar', symbol, timeframe: '1m' };
    await writeBars(pool, minuteBars(symbol, END, 5, 1.25), randomUUID());
    expect((await a.cache.warm(request)).outcome).toBe('written');
    const before = await b.cache.get<CachedBar>(request);
    expect(before.source).toBe('cache');

    const run2 = randomUUID();
    const newer = minuteBars(symbol, new Date(END.getTime() + 60_000), 1, 1.3);
    await writeBars(pool, newer, run2);
    await a.cache.invalidate('latest-bar', symbol);

    const after = await b.cache.get<CachedBar>(request);
    expect(after.source).toBe('loaded');
    expect(after.envelope.data.ts).toBe(newer[0]?.ts.toISOString());
    expect(after.envelope.sourceRunId).toBe(run2);
    expect((await a.cache.get<CachedBar>(request)).envelope.data.close).toBe(newer[0]?.close);
  });

  it('a dataset-wide bump invalidates every symbol of the dataset', async () => {
    const ns = namespace('invalidate_all');
    const a = await client(ns);
    const b = await client(ns);
    await a.cache.warm(LATEST);
    expect((await b.cache.get(LATEST)).source).toBe('cache');
    await b.cache.invalidate('latest-bar');
    expect((await a.cache.get(LATEST)).source).toBe('loaded');
  });
});

describe('versions per dataset, symbol and timeframe', () => {
  it('finding 2.3: invalidating the 1h slice of a symbol leaves its 1m slice cached; a symbol bump still covers both', async () => {
    const ns = namespace('per_timeframe');
    const a = await client(ns);
    const b = await client(ns);
    const symbol = 'TFMIX';
    const minutes = minuteBars(symbol, END, 5, 1.1);
    const hours = minuteBars(symbol, END, 3, 1.2).map((bar, i) => ({
      ...bar,
      timeframe: '1h',
      ts: new Date(END.getTime() - (3 - i) * 3_600_000),
    }));
    await writeBars(pool, [...minutes, ...hours], randomUUID());
    const oneMinute: CacheRequest = { dataset: 'latest-bar', symbol, timeframe: '1m' };
    const oneHour: CacheRequest = { dataset: 'latest-bar', symbol, timeframe: '1h' };
    await a.cache.warm(oneMinute);
    await a.cache.warm(oneHour);

    // New 1h bars land: only the 1h slice is stale.
    await a.cache.invalidate('latest-bar', symbol, '1h');
    expect((await b.cache.get(oneMinute)).source).toBe('cache');
    expect((await b.cache.get(oneHour)).source).toBe('loaded');

    await a.cache.invalidate('latest-bar', symbol);
    expect((await b.cache.get(oneMinute)).source).toBe('loaded');
    expect((await b.cache.get(oneHour)).source).toBe('loaded');
    await expect(a.cache.invalidate('macro-calendar', 'USD', '1h')).rejects.toThrow(/timeframe/);
  });

  it('finding 4.2: a version bump deletes the superseded values at once and says how many; repeated bumps leave one value per slice', async () => {
    const ns = namespace('superseded');
    const { cache, redis } = await client(ns);
    const oneMinute: CacheRequest = { dataset: 'latest-bar', symbol: 'EURUSD', timeframe: '1m' };
    const oneHour: CacheRequest = { dataset: 'latest-bar', symbol: 'EURUSD', timeframe: '1h' };
    const usd: CacheRequest = { dataset: 'macro-calendar', symbol: 'USD' };
    const all: CacheRequest = { dataset: 'macro-calendar', symbol: 'ALL' };
    for (const request of [oneMinute, oneHour, usd, all]) await cache.warm(request);
    const [oneHourKey] = await scanKeys(redis, cache.keys.value('latest-bar', '*', 'EURUSD:1h'));
    expect(await scanKeys(redis, cache.keys.value('latest-bar', '*', '*'))).toHaveLength(2);

    // One timeframe: its value goes with the bump, the other timeframe's stays.
    const oneTimeframe = await cache.invalidate('latest-bar', 'EURUSD', '1m');
    expect(await scanKeys(redis, cache.keys.value('latest-bar', '*', '*'))).toEqual([oneHourKey]);
    expect(oneTimeframe).toEqual({ deleted: 1 });
    // A symbol: every timeframe's value.
    await cache.warm(oneMinute);
    const oneSymbol = await cache.invalidate('latest-bar', 'EURUSD');
    expect(await scanKeys(redis, cache.keys.value('latest-bar', '*', '*'))).toEqual([]);
    expect(oneSymbol).toEqual({ deleted: 2 });
    // A whole dataset: every value it tracks.
    const wholeDataset = await cache.invalidate('macro-calendar');
    expect(await scanKeys(redis, cache.keys.value('macro-calendar', '*', '*'))).toEqual([]);
    expect(wholeDataset).toEqual({ deleted: 2 });
    // Nothing cached under the new versions: nothing to delete, the bump still happens.
    expect(await cache.invalidate('macro-calendar')).toEqual({ deleted: 0 });

    // Memory stays bounded however often a slice moves: 30 bumps leave the keys of one.
    await cache.warm(oneMinute);
    // The shared stats hash exists from the first flush on; flush now so it is counted once.
    await cache.flushStats();
    const keysOfOne = (await scanKeys(redis, `${ns.prefix}*`)).length;
    for (let round = 0; round < 30; round++) {
      await cache.invalidate('latest-bar', 'EURUSD', '1m');
      await cache.warm(oneMinute);
    }
    expect(await scanKeys(redis, cache.keys.value('latest-bar', '*', '*'))).toHaveLength(1);
    expect(await scanKeys(redis, `${ns.prefix}*`)).toHaveLength(keysOfOne);
  });
});

describe('LRU capacity', () => {
  it('two clients share one bound per dataset and evict the least recently used entries', async () => {
    const ns = namespace('lru');
    const policy = { ...POLICY, maxKeysPerDataset: 3 };
    const a = await client(ns, { policy });
    const b = await client(ns, { policy });
    const symbols = ['AAA', 'BBB', 'CCC', 'DDD', 'EEE'];
    for (const symbol of symbols) await writeBars(pool, minuteBars(symbol, END, 2), randomUUID());
    const req = (symbol: string): CacheRequest => ({ dataset: 'latest-bar', symbol, timeframe: '1m' });
    for (const symbol of symbols.slice(0, 3)) await a.cache.warm(req(symbol));
    // AAA is read, so BBB becomes the least recently used.
    expect((await b.cache.get(req('AAA'))).source).toBe('cache');
    expect((await b.cache.warm(req('DDD'))).evicted).toBe(1);
    expect((await a.cache.warm(req('EEE'))).evicted).toBe(1);

    expect((await a.cache.trackedEntries('latest-bar')).sort()).toEqual(['AAA:1m', 'DDD:1m', 'EEE:1m']);
    const valueKeys = await scanKeys(a.redis, a.cache.keys.value('latest-bar', '*', '*'));
    expect(valueKeys.map((key) => key.split(':').slice(-2).join(':')).sort()).toEqual([
      'AAA:1m',
      'DDD:1m',
      'EEE:1m',
    ]);
    expect((await b.cache.get(req('BBB'))).source).toBe('loaded');
  });

  it('keeps access order when accesses share a clock reading or the clock steps back', async () => {
    const ns = namespace('lru_order');
    const policy = { ...POLICY, maxKeysPerDataset: 2 };
    const a = await client(ns, { policy });
    for (const symbol of ['AAA', 'BBB', 'CCC'])
      await writeBars(pool, minuteBars(symbol, END, 2), randomUUID());
    const req = (symbol: string): CacheRequest => ({ dataset: 'latest-bar', symbol, timeframe: '1m' });
    await a.cache.warm(req('AAA'));
    // AAA's last access lies an hour ahead of the server clock, as after a clock step back.
    const [seconds] = await a.redis.time();
    await a.redis.zadd(`${ns.prefix}cache:lru:latest-bar`, (Number(seconds) + 3600) * 1_000_000, 'AAA:1m');
    await a.cache.warm(req('BBB'));
    expect((await a.cache.warm(req('CCC'))).evicted).toBe(1);

    expect((await a.cache.trackedEntries('latest-bar')).sort()).toEqual(['BBB:1m', 'CCC:1m']);
  });
});

describe('stampede protection', () => {
  it('200 concurrent readers of an expired hot key on 4 clients cause one database load', async () => {
    const ns = namespace('stampede');
    let shiftMs = 0;
    const now = (): number => Date.now() + shiftMs;
    let held = Promise.withResolvers<undefined>();
    held.resolve(undefined);
    const { counter, wrapped } = counted(datasets['latest-bar'], () => held.promise);
    const clients = await Promise.all(
      Array.from({ length: 4 }, () =>
        client(ns, { now, datasets: { 'latest-bar': wrapped }, statsFlushIntervalMs: 60_000 }),
      ),
    );
    const [first] = clients;
    if (first === undefined) throw new Error('no client');
    await first.cache.warm(LATEST);
    expect(counter.loads).toBe(1);

    // Expire the value for every client: past its freshness (it is still within the grace window),
    // and hold the next load until every reader has seen the expired value.
    shiftMs = (POLICY.ttlSeconds + 1) * 1000;
    held = Promise.withResolvers<undefined>();
    const readers = Array.from({ length: 200 }, (_, i) =>
      (clients[i % 4] ?? first).cache.get<CachedBar>(LATEST),
    );
    // Every reader has seen the expired value (200 misses) before the one load may finish.
    await waitFor(
      async () => {
        await Promise.all(clients.map((c) => c.cache.flushStats()));
        const stats = await readCacheStats(first.redis, ns.prefix);
        return stats.find((s) => s.dataset === 'latest-bar')?.misses === 200;
      },
      { description: '200 misses counted' },
    );
    held.resolve(undefined);
    const results = await Promise.all(readers);
    expect(counter.loads - 1).toBe(1);
    expect(results.every((r) => r.envelope.data.ts === lastBar?.ts.toISOString())).toBe(true);
    expect(new Set(results.map((r) => r.source))).toEqual(new Set(['loaded', 'peer']));
  });
});

describe('faults', () => {
  it('deletes a corrupt value, counts it and reloads', async () => {
    const ns = namespace('corrupt');
    const { cache, redis } = await client(ns);
    await cache.warm(LATEST);
    const [key] = await scanKeys(redis, cache.keys.value('latest-bar', '*', '*'));
    if (key === undefined) throw new Error('no value key');
    for (const garbage of [
      '{not json',
      JSON.stringify({ v: 1, dataset: 'latest-bar', entry: 'EURUSD:1m', data: 42 }),
    ]) {
      await redis.set(key, garbage, 'PX', 60_000);
      const result = await cache.get<CachedBar>(LATEST);
      expect(result.source).toBe('loaded');
      expect(result.envelope.data.ts).toBe(lastBar?.ts.toISOString());
      expect(JSON.parse((await redis.get(key)) ?? 'null')).toMatchObject({
        dataset: 'latest-bar',
        entry: 'EURUSD:1m',
      });
    }
    await cache.flushStats();
    expect((await readCacheStats(redis, ns.prefix)).find((s) => s.dataset === 'latest-bar')?.corrupt).toBe(2);
  });

  it('serves a stale value within the grace window when the loader fails, and fails after it', async () => {
    const ns = namespace('stale');
    let shiftMs = 0;
    let failing = false;
    const base = datasets['latest-bar'];
    if (base === undefined) throw new Error('dataset missing');
    const flaky: DatasetDefinition = {
      ...base,
      load: (request, signal) =>
        failing ? Promise.reject(new Error('database down')) : base.load(request, signal),
    };
    const { cache, redis } = await client(ns, {
      now: () => Date.now() + shiftMs,
      datasets: { 'latest-bar': flaky },
    });
    await cache.warm(LATEST);
    failing = true;
    shiftMs = (POLICY.ttlSeconds + 5) * 1000;
    const stale = await cache.get<CachedBar>(LATEST);
    expect(stale.source).toBe('stale');
    expect(stale.envelope.data.ts).toBe(lastBar?.ts.toISOString());
    shiftMs = (POLICY.ttlSeconds + POLICY.staleGraceSeconds + 5) * 1000;
    await expect(cache.get(LATEST)).rejects.toBeInstanceOf(CacheLoadError);
    await cache.flushStats();
    expect((await readCacheStats(redis, ns.prefix)).find((s) => s.dataset === 'latest-bar')).toMatchObject({
      stale: 1,
      loadErrors: 2,
    });
  });

  it('reads from the database and reports degraded when Redis is unreachable, within the load timeout', async () => {
    const ns = namespace('degraded');
    const deadPort = await freePort();
    const { cache } = await client(ns, {
      redisUrl: `redis://127.0.0.1:${deadPort}`,
      unreachable: true,
      loadTimeoutMs: 1_000,
    });
    expect(cache.status()).toBe('degraded');
    const result = await cache.get<CachedBar>(LATEST);
    expect(result.source).toBe('database');
    expect(result.envelope.data.ts).toBe(lastBar?.ts.toISOString());
    expect(cache.status()).toBe('degraded');

    const hanging: DatasetDefinition = {
      ...(datasets['latest-bar'] as DatasetDefinition),
      load: () => new Promise(() => undefined),
    };
    const stuck = await client(ns, {
      redisUrl: `redis://127.0.0.1:${deadPort}`,
      loadTimeoutMs: 200,
      datasets: { 'latest-bar': hanging },
    });
    await expect(stuck.cache.get(LATEST)).rejects.toMatchObject({ name: 'CacheLoadError', timedOut: true });
  });

  it('goes degraded when its Redis connection is cut and healthy again once Redis answers', async () => {
    const ns = namespace('recover');
    const redisPort = Number(new URL(testEndpoints().redisUrl).port || 6379);
    const proxy = await startTcpProxy({ host: '127.0.0.1', port: redisPort });
    cleanup.push(() => proxy.close());
    const { cache, redis } = await client(ns, { redisUrl: `redis://127.0.0.1:${proxy.port}` });
    await cache.warm(LATEST);
    expect((await cache.get(LATEST)).source).toBe('cache');
    expect(cache.status()).toBe('healthy');

    proxy.cut(); // live connections die, new ones are refused until restore()
    await waitFor(() => redis.status !== 'ready', { description: 'connection lost' });
    const during = await cache.get<CachedBar>(LATEST);
    expect(during.source).toBe('database');
    expect(during.envelope.data.ts).toBe(lastBar?.ts.toISOString());
    expect(cache.status()).toBe('degraded');

    proxy.restore();
    await waitFor(() => cache.status() === 'healthy', { description: 'reconnected' });
    expect((await cache.get(LATEST)).source).toBe('cache');
  });

  it('a connection drop during warming: the warmer resumes and no pre-invalidation value survives', async () => {
    const ns = namespace('drop');
    const redisPort = Number(new URL(testEndpoints().redisUrl).port || 6379);
    const proxy: TcpProxy = await startTcpProxy({ host: '127.0.0.1', port: redisPort });
    cleanup.push(() => proxy.close());
    const symbol = 'USDJPY';
    const request: CacheRequest = { dataset: 'latest-bar', symbol, timeframe: '1m' };
    await writeBars(pool, minuteBars(symbol, END, 3, 150), randomUUID());

    const loading = Promise.withResolvers<undefined>();
    const gate = Promise.withResolvers<undefined>();
    const base = datasets['latest-bar'] as DatasetDefinition;
    const slow: DatasetDefinition = {
      ...base,
      async load(req, signal) {
        const slice = await base.load(req, signal); // reads the OLD data
        loading.resolve(undefined);
        await gate.promise;
        return slice;
      },
    };
    const warmer = await client(ns, {
      redisUrl: `redis://127.0.0.1:${proxy.port}`,
      datasets: { 'latest-bar': slow },
    });
    const reader = await client(ns);

    const warming = warmer.cache.warm(request).then(
      (result) => ({ result, error: undefined }),
      (error: unknown) => ({ result: undefined, error }),
    );
    await loading.promise;
    // New data lands and is invalidated while the warmer holds the old slice; its connection drops.
    const newer = minuteBars(symbol, new Date(END.getTime() + 120_000), 1, 151);
    await writeBars(pool, newer, randomUUID());
    await reader.cache.invalidate('latest-bar', symbol);
    // A drop, not an outage: the connection dies and the warmer may reconnect at once.
    proxy.cut();
    proxy.restore();
    gate.resolve(undefined);
    const first = await warming;
    // The first attempt either failed with the connection, or (reconnected in time) the version
    // check refused its old slice and it reloaded: it never wrote under the old version.
    if (first.result?.outcome === 'written') expect(first.result.versionTag).toBe('0.1');

    await waitFor(() => warmer.redis.status === 'ready', { description: 'warmer reconnected' });
    const retried = await waitFor(
      async () => {
        const result = await warmer.cache.warm(request).catch(() => undefined);
        return result?.outcome === 'written' ? result : undefined;
      },
      { description: 'warm after reconnect' },
    );
    expect(retried.versionTag).toBe('0.1');
    const served = await reader.cache.get<CachedBar>(request);
    expect(served.source).toBe('cache');
    expect(served.envelope.data.ts).toBe(newer[0]?.ts.toISOString());
  });
});
