import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CacheClient,
  CacheKeys,
  createCacheRedis,
  createMarketDatasets,
  readCacheStats,
  redisReady,
  type CachedBar,
  type CachedRollup,
  type CacheRequest,
} from '@backbone/cache';
import { systemConfigSchema, topicName } from '@backbone/config';
import { QUEUES, type IngestRunEvent } from '@backbone/contracts';
import { createPool, mergeBars, migrate, refreshRollups, withTransaction, type BarRow } from '@backbone/db';
import {
  createKafkajsClient,
  ensureTopics,
  topicSpecsFromConfig,
  type AdminPort,
  type KafkaClient,
  type ProducerPort,
} from '@backbone/kafka';
import {
  createTestDatabase,
  createTestKeyNamespace,
  freePort,
  testEndpoints,
  uniqueName,
  waitFor,
  type TestDatabase,
  type TestResource,
} from '@backbone/testing';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bullmqPrefix, cacheWarmerGroupId } from './lib/cache-warmer.ts';

const root = join(import.meta.dirname, '../../..');
const node = join(root, 'node_modules/node/bin/node');
/** The deployment's topics under a `kafka.namespace` of this test's own: no other run's events. */
const KAFKA_NAMESPACE = `${uniqueName('warmer_main')}.`;
const TOPIC_SPECS = topicSpecsFromConfig(
  systemConfigSchema.parse({ kafka: { namespace: KAFKA_NAMESPACE } }).kafka,
);
const TOPIC = topicName({ namespace: KAFKA_NAMESPACE }, 'backbone.ingest-events.v1');
const PARTITIONS = TOPIC_SPECS.find((spec) => spec.name === TOPIC)?.partitions ?? 0;
/** Small on purpose: the test writes more slices than this and checks that both processes keep one bound. */
const MAX_KEYS = 3;
const DATASETS = {
  latestBar: { enabled: true },
  recentBars: { enabled: true, count: 5 },
  rollups: { enabled: true, days: 2 },
  macroCalendar: { enabled: true, days: 7 },
};
const SYMBOL = 'X2P';
const MORE = [1, 2, 3, 4, 5].map((n) => `${SYMBOL}${String(n)}`);

interface Warmer {
  name: string;
  port: number;
  child: ChildProcess;
  exited: Promise<unknown[]>;
  spanFile: string;
  output(): string;
}

interface SpanLine {
  traceId: string;
  name: string;
}

/**
 * Two real `apps/cache-warmer/src/main.ts` processes on one cache (key namespace) and one
 * database, consuming `backbone.ingest-events.v1` under the test's `kafka.namespace` in their
 * consumer group. Events are
 * sent to a partition the log says one process owns: what it invalidates and re-warms is what
 * the other process's earlier event produced, the LRU bound and the shared counters hold
 * across both, and a rollup refresh reaches their rollups listeners.
 */
describe('two cache-warmer processes', { timeout: 300_000 }, () => {
  const { redisUrl, kafkaBrokers } = testEndpoints();
  let database: TestDatabase;
  let namespace: { prefix: string } & TestResource;
  let pool: pg.Pool;
  let redis: Redis;
  let kafka: KafkaClient;
  let admin: AdminPort;
  let producer: ProducerPort;
  let reader: CacheClient;
  let readerRedis: Redis;
  let queue: Queue;
  let scratch: string;
  const warmers: Warmer[] = [];

  beforeAll(async () => {
    database = await createTestDatabase('warmer_main', { migrate });
    namespace = createTestKeyNamespace(redisUrl, 'warmer_main');
    scratch = await mkdtemp(join(tmpdir(), 'warmer-main-'));
    pool = createPool({ url: database.url, poolSize: 2 });
    redis = new Redis(redisUrl);
    queue = new Queue(QUEUES.cacheWarm, { connection: redis, prefix: bullmqPrefix(namespace.prefix) });
    kafka = createKafkajsClient({ brokers: kafkaBrokers, clientId: 'warmer-main-test' });
    admin = kafka.admin();
    producer = kafka.producer();
    await Promise.all([admin.connect(), producer.connect()]);
    const ensured = await ensureTopics(admin, TOPIC_SPECS);
    expect(ensured.ok, JSON.stringify(ensured.topics)).toBe(true);
    await commitGroupAtLogEnd(kafka, cacheWarmerGroupId(namespace.prefix));
    readerRedis = createCacheRedis(
      { url: redisUrl, tls: { enabled: false, rejectUnauthorized: true } },
      { onError: () => undefined },
    );
    await redisReady(readerRedis, 2_000);
    reader = new CacheClient({
      redis: readerRedis,
      keyNamespace: namespace.prefix,
      datasets: createMarketDatasets(pool, DATASETS),
      policy: { ttlSeconds: 900, maxKeysPerDataset: MAX_KEYS, staleGraceSeconds: 30 },
    });
    for (const name of ['a', 'b']) warmers.push(await startWarmer(name));
  }, 240_000);

  afterAll(async () => {
    for (const warmer of warmers) if (warmer.child.exitCode === null) warmer.child.kill('SIGKILL');
    await reader.close();
    readerRedis.disconnect();
    await queue.close();
    await producer.close();
    await admin.deleteTopics(TOPIC_SPECS.map((spec) => spec.name));
    await admin.close();
    redis.disconnect();
    await pool.end();
    await namespace.drop();
    await database.drop();
    await rm(scratch, { recursive: true, force: true });
  }, 60_000);

  async function startWarmer(name: string): Promise<Warmer> {
    const port = await freePort();
    const spanFile = join(scratch, `spans-${name}.jsonl`);
    const child = spawn(
      node,
      [
        '--import',
        '@backbone/telemetry/register',
        join(root, 'apps/cache-warmer/src/main.ts'),
        ...['--set', `database.url=${database.url}`],
        ...['--set', `redis.url=${redisUrl}`],
        ...['--set', `redis.keyNamespace=${namespace.prefix}`],
        ...['--set', `kafka.namespace=${KAFKA_NAMESPACE}`],
        ...['--set', `redis.cache.maxKeysPerDataset=${MAX_KEYS}`],
        ...['--set', `redis.cache.datasets.recentBars.count=${DATASETS.recentBars.count}`],
        // Tells the two apart in the consumer group and in the logs.
        ...['--set', `kafka.clientId=warmer-${name}`],
        ...['--set', `workers.cacheWarmer.port=${port}`],
        ...['--set', `telemetry.spanFileExporterPath=${spanFile}`],
      ],
      {
        cwd: root,
        env: { PATH: '/usr/bin:/bin', KAFKA_BROKERS: kafkaBrokers.join(',') },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    const warmer = { name, port, child, exited: once(child, 'exit'), spanFile, output: () => output };
    await waitFor(
      async () => (await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined))?.status === 200,
      {
        timeoutMs: 180_000,
        intervalMs: 250,
        description: `warmer ${name} /readyz 200 (${output.slice(-2000)})`,
      },
    );
    return warmer;
  }

  /** The next offset to consume per partition, after the events this test sent. */
  const sentUpTo = new Map<number, bigint>();

  async function publish(event: IngestRunEvent, partition: number): Promise<void> {
    const acks = await producer.send(TOPIC, [
      {
        key: event.runId,
        value: JSON.stringify(event),
        headers: { traceparent: event.traceContext.traceparent },
        partition,
      },
    ]);
    for (const ack of acks) sentUpTo.set(ack.partition, ack.baseOffset + 1n);
  }

  /** Writes one 1m bar per symbol at `ts` (default: the previous minute) as one run. */
  async function writeRun(
    symbols: readonly string[],
    close: number,
    ts = new Date(Math.floor(Date.now() / 60_000) * 60_000 - 60_000),
  ): Promise<IngestRunEvent> {
    const runId = randomUUID();
    const bars: BarRow[] = symbols.map((symbol) => ({
      symbol,
      timeframe: '1m',
      ts,
      open: close,
      high: close,
      low: close,
      close,
      volume: 1,
      source: 'test',
    }));
    await withTransaction(pool, (client) => mergeBars(client, bars, { runId }));
    return {
      runId,
      dimension: 'bars',
      source: 'test',
      symbols: [...symbols],
      timeframe: '1m',
      window: { from: ts.toISOString(), to: new Date(ts.getTime() + 60_000).toISOString() },
      counts: { inserted: symbols.length, updated: 0, unchanged: 0, rejected: 0 },
      rejectedByReason: {},
      freshnessSeconds: 60,
      quality: {},
      producedAt: new Date().toISOString(),
      traceContext: {
        traceparent: `00-${randomBytes(16).toString('hex')}-${randomBytes(8).toString('hex')}-01`,
      },
    };
  }

  const latest = (symbol: string): CacheRequest => ({ dataset: 'latest-bar', symbol, timeframe: '1m' });

  async function servedRun(symbol: string, runId: string): Promise<CachedBar> {
    const envelope = await waitFor(
      async () => {
        const value = await reader.peek<CachedBar>(latest(symbol));
        return value?.sourceRunId === runId ? value : undefined;
      },
      { timeoutMs: 30_000, description: `latest-bar ${symbol} from run ${runId}` },
    );
    return envelope.data;
  }

  it('an event handled by one process re-warms what the other wrote; one LRU bound and one set of counters for both; a rollup refresh re-warms the rollups', async () => {
    const [a, b] = warmers;
    if (a === undefined || b === undefined) throw new Error('the set-up did not start both warmers');
    // Wait until the group settled with both members: each one's latest assignment is non-empty
    // and together they own every partition exactly once.
    const owned = await waitFor(
      () => {
        const ofA = lastAssignment(a.output());
        const ofB = lastAssignment(b.output());
        if (ofA.length === 0 || ofB.length === 0) return undefined;
        const all = [...ofA, ...ofB].sort();
        return new Set(all).size === all.length && all.length === PARTITIONS ? { a: ofA, b: ofB } : undefined;
      },
      {
        timeoutMs: 120_000,
        intervalMs: 250,
        description: 'both warmers own partitions of the ingest events',
      },
    );
    const partitionOfA = owned.a[0] ?? 0;
    const partitionOfB = owned.b[0] ?? 0;

    // Runs 1 and 2 write the same bar (a correction), and step 5 adds the minute before it: one
    // minute fixed here, with its predecessor in the same hour, so that a minute or an hour
    // turning while the test runs cannot split SYMBOL's bars over two minutes or two 1h buckets.
    const previousMinute = Math.floor(Date.now() / 60_000) * 60_000 - 60_000;
    const barTs = new Date(
      new Date(previousMinute).getUTCMinutes() === 0 ? previousMinute - 120_000 : previousMinute,
    );

    // 1. Process A handles run 1: the latest bar becomes run 1's.
    const run1 = await writeRun([SYMBOL], 1.1, barTs);
    await publish(run1, partitionOfA);
    expect((await servedRun(SYMBOL, run1.runId)).close).toBe(1.1);

    // 2. Process B handles run 2 of the same symbol: run 1's value becomes unreachable at once
    //    (one version bump of the symbol's 1m slice, shared) and the fresh one is written, whichever worker takes the job.
    const run2 = await writeRun([SYMBOL], 1.2, barTs);
    const versionsBefore = await redis.hget(
      new CacheKeys(namespace.prefix).versions,
      `latest-bar:${SYMBOL}:1m`,
    );
    await publish(run2, partitionOfB);
    const served = await servedRun(SYMBOL, run2.runId);
    expect(served.close).toBe(1.2);
    const versionsAfter = await redis.hget(
      new CacheKeys(namespace.prefix).versions,
      `latest-bar:${SYMBOL}:1m`,
    );
    expect(Number(versionsAfter) - Number(versionsBefore)).toBe(1);

    // 3. More slices than the bound, from events split between both processes.
    for (const [i, symbol] of MORE.entries()) {
      await publish(await writeRun([symbol], 2 + i), i % 2 === 0 ? partitionOfA : partitionOfB);
    }
    // Every event was consumed (the group committed past each one) and every queued warm job
    // finished.
    await waitFor(
      async () => {
        // (Not 'delayed': the re-warm scheduler always keeps its next run there.)
        const counts = await queue.getJobCounts('waiting', 'active', 'prioritized');
        return Object.values(counts).every((n) => n === 0) &&
          (await committedPast(kafka, cacheWarmerGroupId(namespace.prefix), sentUpTo))
          ? true
          : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 250, description: 'every event consumed and every warm job done' },
    );
    const keys = new CacheKeys(namespace.prefix);
    const written = [SYMBOL, ...MORE];
    for (const dataset of ['latest-bar', 'recent-bars'] as const) {
      const tracked = new Set(await redis.zrange(keys.lru(dataset), 0, -1));
      // Six symbols were written by two processes; one bound holds.
      expect(tracked.size, dataset).toBe(MAX_KEYS);
      expect(written.map((symbol) => `${symbol}:1m`)).toEqual(expect.arrayContaining([...tracked]));
      // Exactly the tracked entries have a value under their current version: the others were
      // evicted (their keys unlinked) by whichever process went over the bound.
      for (const symbol of written) {
        const value = await reader.peek({ dataset, symbol, timeframe: '1m' });
        expect(value !== undefined, `${dataset} ${symbol}`).toBe(tracked.has(`${symbol}:1m`));
      }
    }

    // 4. The shared counters (one Redis hash) equal the sum of both processes' own metrics.
    const loadsOf = async (warmer: Warmer): Promise<Record<string, number>> => {
      const text = await (await fetch(`http://127.0.0.1:${warmer.port}/metrics`)).text();
      return histogramCounts(text, 'backbone_cache_load_duration_count');
    };
    const agreed = await waitFor(
      async () => {
        const [ofA, ofB] = await Promise.all([loadsOf(a), loadsOf(b)]);
        const shared = await readCacheStats(redis, namespace.prefix);
        const rows = shared.map((s) => ({
          dataset: s.dataset,
          shared: s.loads,
          a: ofA[s.dataset] ?? 0,
          b: ofB[s.dataset] ?? 0,
        }));
        return rows.every((row) => row.shared === row.a + row.b) ? rows : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 500, description: 'Redis counters = process A + process B metrics' },
    );
    const latestRow = agreed.find((row) => row.dataset === 'latest-bar');
    expect(latestRow?.shared).toBeGreaterThanOrEqual(2 + MORE.length);

    // 5. Rollups: a reader caches SYMBOL's 1h rollup; a refresh of the rollup tables (what the
    //    ingestor's storage maintenance runs) makes the processes re-warm it with the new bars.
    const hourly: CacheRequest = { dataset: 'rollups', symbol: SYMBOL, timeframe: '1h' };
    const bucketBars = (envelope: { data: CachedRollup[] } | undefined): number =>
      envelope?.data.reduce((sum, bucket) => sum + bucket.barCount, 0) ?? 0;
    const since = new Date(Date.now() - 2 * 3_600_000);
    await refreshRollups(pool, { from: since, to: new Date() });
    expect(bucketBars((await reader.get<CachedRollup[]>(hourly)).envelope)).toBe(1);
    await writeRun([SYMBOL], 1.3, new Date(Date.parse(served.ts) - 60_000));
    await refreshRollups(pool, { from: since, to: new Date() });
    await waitFor(async () => bucketBars(await reader.peek<CachedRollup[]>(hourly)) === 2, {
      timeoutMs: 30_000,
      description: 'the 1h rollup re-warmed by a warmer process after the refresh',
    });

    // 6. Both stop cleanly; their spans say which process consumed which event.
    for (const warmer of warmers) warmer.child.kill('SIGTERM');
    for (const warmer of warmers) {
      const [code] = await warmer.exited;
      expect(code, `${warmer.name}: ${warmer.output().slice(-3000)}`).toBe(0);
    }
    const consumedBy = async (warmer: Warmer): Promise<Set<string>> => {
      const text = await readFile(warmer.spanFile, 'utf8').catch(() => '');
      const spans = text
        .split('\n')
        .filter((line) => line.length > 0)
        .map((line) => JSON.parse(line) as SpanLine);
      return new Set(spans.filter((span) => span.name === `process ${TOPIC}`).map((span) => span.traceId));
    };
    const traceOf = (event: IngestRunEvent): string => event.traceContext.traceparent.split('-')[1] ?? '';
    const [byA, byB] = await Promise.all([consumedBy(a), consumedBy(b)]);
    expect(byA.has(traceOf(run1)) && !byB.has(traceOf(run1))).toBe(true);
    expect(byB.has(traceOf(run2)) && !byA.has(traceOf(run2))).toBe(true);
    process.stdout.write(
      `two warmer processes: partitions a=${owned.a.join(',')} b=${owned.b.join(',')}; ` +
        `loads ${agreed.map((row) => `${row.dataset} ${row.shared} = ${row.a} + ${row.b}`).join('; ')}\n`,
    );
  });
});

/** The partitions of the ingest-events topic that a warmer's latest assignment log line lists. */
function lastAssignment(output: string): number[] {
  let latest: number[] = [];
  for (const line of output.split('\n')) {
    if (!line.includes('ingest events partitions assigned')) continue;
    try {
      const record = JSON.parse(line) as { partitions?: string[] };
      latest = (record.partitions ?? [])
        .filter((tp) => tp.startsWith(`${TOPIC}:`))
        .map((tp) => Number(tp.slice(TOPIC.length + 1)));
    } catch {
      // an interleaved line is not a log record
    }
  }
  return latest;
}

/**
 * Joins the group once and commits the log end of every partition, so the warmers start there
 * whatever the rebalance order (a group without offsets would start at the log end as of each
 * member's first fetch, and could skip an event sent during a rebalance).
 */
async function commitGroupAtLogEnd(kafka: KafkaClient, groupId: string): Promise<void> {
  const consumer = kafka.consumer({ groupId });
  const assigned = Promise.withResolvers<undefined>();
  const admin = kafka.admin();
  await Promise.all([consumer.connect(), admin.connect()]);
  try {
    await consumer.subscribe([TOPIC]);
    await consumer.run({
      eachBatch: () => Promise.resolve(),
      onPartitionsAssigned: () => {
        assigned.resolve(undefined);
        return Promise.resolve([]);
      },
    });
    await assigned.promise;
    const ends = await admin.fetchTopicOffsets(TOPIC);
    await consumer.commitOffsets(
      ends.map((end) => ({ topic: TOPIC, partition: end.partition, offset: end.high })),
    );
  } finally {
    await consumer.close();
    await admin.close();
  }
}

/** True when the group committed at least `positions` (partition → next offset). */
async function committedPast(
  kafka: KafkaClient,
  groupId: string,
  positions: ReadonlyMap<number, bigint>,
): Promise<boolean> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const committed = await admin.fetchGroupOffsets(groupId, [TOPIC]);
    return [...positions].every(
      ([partition, next]) => (committed.find((c) => c.partition === partition)?.offset ?? -1n) >= next,
    );
  } finally {
    await admin.close();
  }
}

/** Sums a Prometheus histogram `_count` series per `dataset` label. */
function histogramCounts(metrics: string, name: string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const line of metrics.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const dataset = /dataset="([^"]+)"/.exec(line)?.[1];
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (dataset !== undefined) counts[dataset] = (counts[dataset] ?? 0) + value;
  }
  return counts;
}
