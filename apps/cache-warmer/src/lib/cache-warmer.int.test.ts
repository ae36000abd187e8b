import { randomUUID } from 'node:crypto';
import {
  CacheClient,
  createCacheRedis,
  createMarketDatasets,
  redisReady,
  type CachedBar,
  type CachedMacroEvent,
  type CachedRollup,
  type CacheRequest,
  type DatasetName,
} from '@backbone/cache';
import type { IngestRunEvent } from '@backbone/contracts';
import { refreshRollups } from '@backbone/db';
import { createKafkajsClient, type KafkaClient, type ProducerPort } from '@backbone/kafka';
import { createLogger } from '@backbone/telemetry';
import { uniqueName, waitFor } from '@backbone/testing';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  createMigratedDatabase,
  endpoints,
  minuteBars,
  testNamespace,
  writeBars,
  type TestDatabase,
} from '../test-support/stack.ts';
import { CacheWarmer, REWARM_SCHEDULER_ID } from './cache-warmer.ts';

const SETTINGS = {
  latestBar: { enabled: true },
  recentBars: { enabled: true, count: 20 },
  rollups: { enabled: true, days: 2 },
  macroCalendar: { enabled: true, days: 7 },
};
const ENABLED = new Set<DatasetName>(['latest-bar', 'recent-bars', 'rollups', 'macro-calendar']);
const POLICY = { ttlSeconds: 300, maxKeysPerDataset: 100, staleGraceSeconds: 30 };
const END = new Date(Math.floor(Date.now() / 3_600_000) * 3_600_000 - 3_600_000);
const logger = createLogger({ name: 'cache-warmer-test', level: 'silent' });

let db: TestDatabase;
let kafka: KafkaClient;
let producer: ProducerPort;
const cleanup: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  db = await createMigratedDatabase('cache_warmer');
  kafka = createKafkajsClient({ brokers: endpoints().kafkaBrokers, clientId: uniqueName('warmer_test') });
  producer = kafka.producer();
  await producer.connect();
});
const stops: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  // Warmer instances stop together (each leaves the consumer group), then the rest in reverse.
  await Promise.all(stops.splice(0).map((stop) => stop()));
  for (const close of cleanup.splice(0).reverse()) await close();
}, 60_000);
afterAll(async () => {
  await producer.close();
  await db.drop();
});

async function topic(): Promise<string> {
  const admin = kafka.admin();
  await admin.connect();
  const name = uniqueName('ingest_events');
  await admin.createTopics([{ name, partitions: 1, replicationFactor: 1, configs: {} }]);
  cleanup.push(async () => {
    await admin.deleteTopics([name]);
    await admin.close();
  });
  return name;
}

/** One warmer instance with its own Redis connections, as a separate process would have. */
async function warmer(prefix: string, options: { topic?: string; groupId?: string } = {}) {
  const cacheRedis = createCacheRedis(
    { url: endpoints().redisUrl, tls: { enabled: false, rejectUnauthorized: true } },
    { onError: () => undefined },
  );
  await redisReady(cacheRedis, 2_000);
  const queueRedis = new Redis(endpoints().redisUrl, { maxRetriesPerRequest: 2 });
  const workerRedis = new Redis(endpoints().redisUrl, { maxRetriesPerRequest: null });
  const cache = new CacheClient({
    redis: cacheRedis,
    keyNamespace: prefix,
    datasets: createMarketDatasets(db.pool, SETTINGS),
    policy: POLICY,
  });
  const app = new CacheWarmer({
    cache,
    pool: db.pool,
    listenConnection: { connectionString: db.url },
    kafka,
    queueRedis,
    workerRedis,
    logger,
    keyNamespace: prefix,
    datasets: ENABLED,
    concurrency: 4,
    rewarmEveryMs: 60_000,
    maxKeysPerDataset: 100,
    discoveryDays: 2,
    ...options,
  });
  const stop = new AbortController();
  const loops: Promise<void>[] = [];
  stops.push(async () => {
    stop.abort();
    await Promise.allSettled(loops);
    await app.queue.close();
    await cache.close();
    cacheRedis.disconnect();
    queueRedis.disconnect();
    workerRedis.disconnect();
  });
  return {
    app,
    cache,
    start(...which: ('worker' | 'consumer' | 'scheduler' | 'listener')[]) {
      for (const loop of which) {
        if (loop === 'listener') loops.push(app.runRollupsListener(stop.signal));
        if (loop === 'worker') loops.push(app.runWorker(stop.signal));
        if (loop === 'consumer') loops.push(app.runEventsConsumer(stop.signal));
        if (loop === 'scheduler') loops.push(app.runScheduler(stop.signal));
      }
    },
  };
}

function barEvent(runId: string, symbols: string[], overrides: Partial<IngestRunEvent> = {}): IngestRunEvent {
  return {
    runId,
    dimension: 'bars',
    source: 'test',
    symbols,
    timeframe: '1m',
    window: { from: new Date(END.getTime() - 3_600_000).toISOString(), to: END.toISOString() },
    counts: { inserted: 1, updated: 0, unchanged: 0, rejected: 0 },
    rejectedByReason: {},
    freshnessSeconds: 1,
    quality: {},
    producedAt: new Date().toISOString(),
    traceContext: { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' },
    ...overrides,
  };
}

async function publish(topicName: string, value: IngestRunEvent | string): Promise<void> {
  const json = typeof value === 'string' ? value : JSON.stringify(value);
  await producer.send(topicName, [{ key: typeof value === 'string' ? 'bad' : value.runId, value: json }]);
}

const LATEST = (symbol: string): CacheRequest => ({ dataset: 'latest-bar', symbol, timeframe: '1m' });

describe('ingest events -> fresh keys', () => {
  it('two warmer instances: an event consumed by either makes both see fresh slices of each dataset it touches; a bad event is skipped', async () => {
    const ns = testNamespace('warmer_events');
    cleanup.push(() => ns.drop());
    const events = await topic();
    const groupId = uniqueName('warmers');
    const a = await warmer(ns.prefix, { topic: events, groupId });
    const b = await warmer(ns.prefix, { topic: events, groupId });
    a.start('worker', 'consumer');
    b.start('worker', 'consumer');
    await Promise.any([a.app.assigned, b.app.assigned]);

    const symbol = 'EVTUSD';
    const run1 = randomUUID();
    const first = minuteBars(symbol, END, 120, 1.2);
    await writeBars(db.pool, first, run1);
    await publish(events, 'not json at all');
    await publish(events, barEvent(run1, [symbol]));

    for (const instance of [a, b]) {
      const latest = await waitFor(
        async () => {
          const envelope = await instance.cache.peek<CachedBar>(LATEST(symbol));
          return envelope?.sourceRunId === run1 ? envelope : undefined;
        },
        { description: 'latest-bar warmed from run 1' },
      );
      expect(latest.data.ts).toBe(first.at(-1)?.ts.toISOString());
      // Each slice is its own job: wait for each.
      const recent = await waitFor(
        async () => {
          const envelope = await instance.cache.peek<CachedBar[]>({
            dataset: 'recent-bars',
            symbol,
            timeframe: '1m',
          });
          return envelope?.sourceRunId === run1 ? envelope : undefined;
        },
        { description: 'recent-bars warmed from run 1' },
      );
      expect(recent.data).toHaveLength(20);
    }

    // New data: the old slices must disappear for both instances and the new ones appear.
    const run2 = randomUUID();
    const newer = minuteBars(symbol, new Date(END.getTime() + 5 * 60_000), 5, 1.3);
    await writeBars(db.pool, newer, run2);
    await publish(events, barEvent(run2, [symbol]));
    for (const instance of [a, b]) {
      const latest = await waitFor(
        async () => {
          const envelope = await instance.cache.peek<CachedBar>(LATEST(symbol));
          return envelope?.sourceRunId === run2 ? envelope : undefined;
        },
        { description: 'latest-bar warmed from run 2' },
      );
      expect(latest.data.ts).toBe(newer.at(-1)?.ts.toISOString());
      expect(latest.maxTs).toBe(newer.at(-1)?.ts.toISOString());
    }

    // A macro run refreshes the whole calendar.
    const runMacro = randomUUID();
    await db.pool.query(
      `INSERT INTO market_data.macro_events (source, event_id, ts, name, currency, importance, ingest_run_id)
       VALUES ('fred', $1, now() + interval '2 days', 'Payrolls', 'USD', 'high', $2)`,
      [runMacro.slice(0, 8), runMacro],
    );
    await publish(events, barEvent(runMacro, ['PAYEMS'], { dimension: 'macro', timeframe: undefined }));
    const calendar = await waitFor(
      async () => {
        const envelope = await b.cache.peek<CachedMacroEvent[]>({ dataset: 'macro-calendar', symbol: 'ALL' });
        return envelope?.sourceRunId === runMacro ? envelope : undefined;
      },
      { description: 'macro calendar warmed' },
    );
    expect(calendar.data.map((event) => event.name)).toContain('Payrolls');

    // Every event, the bad one included, was consumed and committed.
    const admin = kafka.admin();
    await admin.connect();
    try {
      const offsets = await waitFor(
        async () => {
          const [committed] = await admin.fetchGroupOffsets(groupId, [events]);
          return committed?.offset === 4n ? committed : undefined;
        },
        { description: 'group offset 4' },
      );
      expect(offsets.offset).toBe(4n);
    } finally {
      await admin.close();
    }
  });

  it('de-duplicates warm jobs per slice: repeated events queue one job each', async () => {
    const ns = testNamespace('warmer_dedup');
    cleanup.push(() => ns.drop());
    const { app } = await warmer(ns.prefix);
    const event = barEvent(randomUUID(), ['AAA', 'BBB']);
    expect(await app.applyEvent(event)).toBe(4);
    expect(await app.applyEvent({ ...event, runId: randomUUID() })).toBe(4);
    const waiting = await app.queue.getJobs(['waiting']);
    expect(
      waiting
        .map((job) => {
          const data = job.data as { dataset: string; symbol: string };
          return `${data.dataset}:${data.symbol}`;
        })
        .sort(),
    ).toEqual(['latest-bar:AAA', 'latest-bar:BBB', 'recent-bars:AAA', 'recent-bars:BBB']);
  });
});

describe('versions per timeframe', () => {
  it('finding 2.3: a 1h bar run replaces the 1h slices and leaves the 1m slices of the symbol cached', async () => {
    const ns = testNamespace('warmer_timeframes');
    cleanup.push(() => ns.drop());
    const symbol = 'TFWUSD';
    const hourBars = (count: number, end: Date, base: number) =>
      minuteBars(symbol, end, count, base).map((bar, i) => ({
        ...bar,
        timeframe: '1h',
        ts: new Date(end.getTime() - (count - i) * 3_600_000),
      }));
    const run1 = randomUUID();
    await writeBars(db.pool, [...minuteBars(symbol, END, 30, 1.1), ...hourBars(5, END, 1.2)], run1);
    const instance = await warmer(ns.prefix);
    const { app, cache } = instance;
    const slices = (timeframe: '1m' | '1h'): CacheRequest[] =>
      (['latest-bar', 'recent-bars'] as const).map((dataset) => ({ dataset, symbol, timeframe }));
    for (const request of [...slices('1m'), ...slices('1h')]) await cache.warm(request);

    // A new 1h bar and its run's event, applied before any worker re-warms.
    const run2 = randomUUID();
    const newHour = hourBars(1, new Date(END.getTime() + 3_600_000), 1.3);
    await writeBars(db.pool, newHour, run2);
    expect(await app.applyEvent(barEvent(run2, [symbol], { timeframe: '1h' }))).toBe(2);
    for (const request of slices('1m')) expect((await cache.peek(request))?.sourceRunId).toBe(run1);
    for (const request of slices('1h')) expect(await cache.peek(request)).toBeUndefined();

    instance.start('worker');
    const latestHour = await waitFor(
      async () => {
        const envelope = await cache.peek<CachedBar>({ dataset: 'latest-bar', symbol, timeframe: '1h' });
        return envelope?.sourceRunId === run2 ? envelope : undefined;
      },
      { description: '1h latest-bar re-warmed from run 2' },
    );
    expect(latestHour.data.ts).toBe(newHour[0]?.ts.toISOString());
    for (const request of slices('1m')) expect((await cache.peek(request))?.sourceRunId).toBe(run1);
  });
});

describe('rollups follow their refresh', () => {
  it('a bar event leaves the rollup slices alone; the refresh of the rollup tables re-warms them at once', async () => {
    const ns = testNamespace('warmer_rollups');
    cleanup.push(() => ns.drop());
    const symbol = 'ROLUSD';
    const hourly: CacheRequest = { dataset: 'rollups', symbol, timeframe: '1h' };
    const daily: CacheRequest = { dataset: 'rollups', symbol, timeframe: '1d' };
    const barCount = (envelope: { data: CachedRollup[] } | undefined): number =>
      envelope?.data.reduce((sum, bucket) => sum + bucket.barCount, 0) ?? 0;
    const first = minuteBars(symbol, END, 90, 1.4);
    await writeBars(db.pool, first, randomUUID());
    await refreshRollups(db.pool, { from: first[0]?.ts ?? END, to: END });
    const a = await warmer(ns.prefix);
    const b = await warmer(ns.prefix);
    a.start('worker', 'listener');
    b.start('listener');
    await Promise.all([a.app.listening, b.app.listening]);
    // A reader caches both rollups (they are tracked from now on).
    expect(barCount((await a.cache.get<CachedRollup[]>(hourly)).envelope)).toBe(90);
    expect(barCount((await a.cache.get<CachedRollup[]>(daily)).envelope)).toBe(90);

    // New 1m bars and their event: latest-bar moves, the rollups keep their (still true) slice,
    // since the rollup tables do not hold the new bars before their refresh.
    const run2 = randomUUID();
    const newer = minuteBars(symbol, new Date(END.getTime() + 30 * 60_000), 30, 1.5);
    await writeBars(db.pool, newer, run2);
    expect(await a.app.applyEvent(barEvent(run2, [symbol]))).toBe(2);
    await waitFor(async () => (await a.cache.peek<CachedBar>(LATEST(symbol)))?.sourceRunId === run2, {
      description: 'latest-bar warmed from run 2',
    });
    expect(barCount(await a.cache.peek<CachedRollup[]>(hourly))).toBe(90);

    // The refresh (what the ingestor's storage maintenance runs every pass) re-warms both.
    await refreshRollups(db.pool, { from: newer[0]?.ts ?? END, to: new Date(END.getTime() + 30 * 60_000) });
    for (const request of [hourly, daily]) {
      const refreshed = await waitFor(
        async () => {
          const envelope = await a.cache.peek<CachedRollup[]>(request);
          return barCount(envelope) === 120 ? envelope : undefined;
        },
        { description: `${request.timeframe ?? ''} rollup re-warmed after the refresh` },
      );
      expect(refreshed.sourceRunId).toBe(run2);
      expect(refreshed.maxTs).toBe(
        request.timeframe === '1h'
          ? END.toISOString()
          : new Date(Math.floor(END.getTime() / 86_400_000) * 86_400_000).toISOString(),
      );
    }

    // Both instances heard the refresh; one claim per refresh lets only one of them act.
    const refreshId = randomUUID();
    const window = { from: END.toISOString(), to: END.toISOString() };
    expect(await a.app.applyRollupsRefresh({ refreshId, ...window })).toBe(1);
    expect(await b.app.applyRollupsRefresh({ refreshId, ...window })).toBe(0);
  });
});

describe('scheduled re-warm', () => {
  it('upserts one scheduler and warms the symbols it discovers at start-up', async () => {
    const ns = testNamespace('warmer_rewarm');
    cleanup.push(() => ns.drop());
    const symbol = 'SCHUSD';
    await writeBars(db.pool, minuteBars(symbol, END, 3, 2), randomUUID());
    const a = await warmer(ns.prefix);
    const b = await warmer(ns.prefix);
    a.start('worker', 'scheduler');
    b.start('scheduler');
    const latest = await waitFor(() => a.cache.peek<CachedBar>(LATEST(symbol)), {
      description: 'startup warm-all',
    });
    expect(latest.data.close).toBe(2.0002);
    const schedulers = await a.app.queue.getJobSchedulers(0, -1);
    expect(schedulers.map((s) => s.key)).toEqual([REWARM_SCHEDULER_ID]);
  });
});
