import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { CacheClient, createCacheRedis, createMarketDatasets, type CacheEnvelope } from '@backbone/cache';
import { topicName, type SystemConfig } from '@backbone/config';
import { ingestRunEventSchema } from '@backbone/contracts';
import { createPool } from '@backbone/db';
import {
  createBarFeed,
  createKafkajsClient,
  ensureTopics,
  publishFeed,
  topicSpecsFromConfig,
  type BarFeed,
  type FeedBar,
} from '@backbone/kafka';
import { freePort } from '@backbone/stack';
import { countBars, createBenchDatabase, uniqueBenchName } from './database.ts';
import { median, percentiles, type Percentiles } from './measure.ts';
import { Redis } from 'ioredis';

export interface FreshnessScenarioOptions {
  readonly config: SystemConfig;
  /** Bars/s of the measured feed (the target is stated at 5,000). */
  readonly rate: number;
  readonly seconds: number;
  /** Bars/s and duration of the memory soak that follows (a rate the bridge keeps up with). */
  readonly soakRate: number;
  readonly soakSeconds: number;
  /** Longest wait for the workers to start, and for the last bar to be committed and cached. */
  readonly timeoutMs: number;
  /** Progress lines (phase starts), for the harness's log. */
  readonly log: (message: string) => void;
}

/** Milliseconds from a bar's production to an event, over every bar of the measured feed. */
export interface LatencySummary extends Percentiles {
  readonly bars: number;
  /** Bars that never reached the event within the timeout (they count as infinitely late). */
  readonly missing: number;
}

export interface WorkerMemory {
  /** Peak RSS over the whole scenario (VmHWM at the end), MB. */
  readonly peakMb: number;
  /** Median RSS of the soak's first and last tenth, MB. */
  readonly soakStartMb: number;
  readonly soakEndMb: number;
  /** Least-squares slope of RSS over the soak, MB per minute. */
  readonly soakSlopeMbPerMinute: number;
  /** Every RSS sample: [seconds since the scenario started, MB]. */
  readonly samples: [number, number][];
}

export interface FreshnessScenarioResult {
  readonly rate: number;
  readonly seconds: number;
  readonly symbols: number;
  readonly produced: number;
  readonly achievedRate: number;
  /** Produced → the sink's transaction that stored the bar (its ingest event's `producedAt`). */
  readonly committed: LatencySummary;
  /** Produced → a latest-bar envelope whose `maxTs` reaches the bar (its `loadedAt`). */
  readonly fresh: LatencySummary;
  /** Committed → fresh, per bar. */
  readonly commitToFresh: LatencySummary;
  readonly cachePollMs: number;
  readonly envelopesSeen: number;
  readonly soakRate: number;
  readonly soakSeconds: number;
  readonly memory: Record<'stream-bridge' | 'cache-warmer', WorkerMemory>;
}

const ROOT = new URL('../../', import.meta.url);
/** `./backbone serve <worker>` execs node in place, so the child's pid is the worker's own. */
const LAUNCHER = fileURLToPath(new URL('backbone', ROOT));
const SYMBOLS = Array.from({ length: 10 }, (_, i) => `FR${String(i).padStart(2, '0')}`);
/** How often the harness reads the latest-bar envelopes (one EVALSHA per symbol). */
const CACHE_POLL_MS = 10;
const RSS_SAMPLE_MS = 500;
const DRAIN_POLL_MS = 250;
const READY_POLL_MS = 250;
const STOP_GRACE_MS = 5_000;
const OUTPUT_TAIL_CHARS = 20_000;

type WorkerName = 'stream-bridge' | 'cache-warmer';

/** Each worker's config section. */
const CONFIG_KEYS: Record<WorkerName, string> = {
  'stream-bridge': 'workers.streamBridge',
  'cache-warmer': 'workers.cacheWarmer',
};
/** The cache-warmer's info line once its events consumer owns partitions (its /readyz does not say). */
const WARMER_ASSIGNED_LOG = 'ingest events partitions assigned';
const LOG_LEVELS_FROM_INFO = new Set(['info', 'debug', 'trace']);

interface Worker {
  readonly name: WorkerName;
  readonly child: ChildProcess;
  readonly port: number;
  /** Whether its output ever had {@link WARMER_ASSIGNED_LOG} (the tail alone may have lost it). */
  loggedAssignment(): boolean;
  output(): string;
}

/**
 * Scenario 3 (end-to-end freshness) and scenario 5 (worker memory): the real stream-bridge and
 * cache-warmer entry points in processes of their own, on a database, Redis key namespace and
 * `kafka.namespace` of this run (so their topics and consumer groups are this run's only); the
 * feed at a fixed rate from the harness, then a soak at a steady rate.
 *
 * Nothing is measured inside the workers. The feed records when each (symbol, ts) was generated
 * (wall clock, the moment it is due and handed to the producer). "Committed" is the `producedAt`
 * of the ingest event the sink writes in the same transaction as the rows, just before COMMIT,
 * read from `backbone.outbox` after the run (so the measurement adds no load while it runs).
 * "Fresh" is the `loadedAt` of the first latest-bar envelope whose `maxTs` reaches the bar: the
 * warmer stamps it right before its one-script write. The harness peeks every latest-bar key
 * every 10 ms (one EVALSHA per symbol) and keeps each distinct envelope; a write overwritten
 * within 10 ms is missed and the next one counts, so "fresh" can only be late, never early.
 */
export async function runFreshnessScenario(
  options: FreshnessScenarioOptions,
): Promise<FreshnessScenarioResult> {
  const { config } = options;
  const started = performance.now();
  const database = await createBenchDatabase(config.database.url, 'bench_fresh');
  const keyNamespace = `${uniqueBenchName('bench_fresh')}:`;
  const kafkaConfig = { ...config.kafka, namespace: `${uniqueBenchName('bench_fresh')}.` };
  const topicSpecs = topicSpecsFromConfig(kafkaConfig);
  const barsTopic = topicName(kafkaConfig, 'market.bars.v1');
  const ingestEventsTopic = topicName(kafkaConfig, 'backbone.ingest-events.v1');
  const kafka = createKafkajsClient({ ...config.kafka, clientId: 'backbone-bench', logLevel: 'error' });
  const admin = kafka.admin();
  await admin.connect();
  const pool = createPool({ ...config.database, url: database.url }, { applicationName: 'backbone-bench' });
  const redis = createCacheRedis(config.redis, { connectionName: 'backbone-bench' });
  const cache = new CacheClient({
    redis,
    keyNamespace,
    datasets: createMarketDatasets(pool, config.redis.cache.datasets),
    policy: config.redis.cache,
  });
  const workers: Worker[] = [];
  try {
    const ensured = await ensureTopics(admin, topicSpecs);
    if (!ensured.ok) throw new Error(`topics not created: ${JSON.stringify(ensured.topics)}`);
    const configArgs = [
      ...['--set', `database.url=${database.url}`],
      ...['--set', `redis.url=${config.redis.url}`],
      ...['--set', `redis.keyNamespace=${keyNamespace}`],
      ...['--set', `kafka.namespace=${kafkaConfig.namespace}`],
      // The warmer's assignment is known from its info line only.
      ...(LOG_LEVELS_FROM_INFO.has(config.telemetry.logLevel) ? [] : ['--set', 'telemetry.logLevel=info']),
    ];
    for (const name of ['stream-bridge', 'cache-warmer'] as const) {
      workers.push(await startWorker(name, configArgs));
    }
    options.log('freshness: workers started, waiting for their partition assignments');
    await Promise.all(workers.map((worker) => untilAssigned(worker, options.timeoutMs)));

    const memory = new Map(workers.map((worker) => [worker.name, [] as [number, number][]]));
    const sampler = setInterval(() => {
      for (const worker of workers) {
        const rss = readRssMb(worker.child.pid);
        if (rss !== undefined) memory.get(worker.name)?.push([(performance.now() - started) / 1000, rss]);
      }
    }, RSS_SAMPLE_MS);

    const producer = kafka.producer({ maxMessageBytes: config.kafka.maxMessageBytes });
    await producer.connect();
    try {
      // Phase 1: the measured feed, with the cache watched until the last bar is cached.
      options.log(`freshness: feed ${String(options.rate)} bars/s for ${String(options.seconds)} s`);
      const producedAt = new Map<string, number>();
      const feed = recordingFeed(
        createBarFeed({
          symbols: SYMBOLS,
          timeframe: '1m',
          seed: 3,
          start: new Date('2026-01-05T00:00:00Z'),
        }),
        producedAt,
      );
      const watcher = watchLatestBars(cache);
      const summary = await publishFeed({
        producer,
        topic: barsTopic,
        feed,
        totalBars: options.rate * options.seconds,
        ratePerSecond: options.rate,
      });
      const lastTs = summary.lastTsBySymbol;
      // What never arrives within the timeout is reported as missing, not thrown.
      await drained(
        async () =>
          (await countBars(database.url)) >= summary.produced &&
          SYMBOLS.every((symbol) => watcher.reached(symbol, lastTs[symbol] ?? '')),
        options.timeoutMs,
      );
      watcher.stop();
      const latency = await latencies(database.url, ingestEventsTopic, producedAt, watcher.envelopes);

      // Phase 2: the soak, continuing the same feed, for RSS before / after.
      options.log(`memory: soak ${String(options.soakRate)} bars/s for ${String(options.soakSeconds)} s`);
      const soakFrom = (performance.now() - started) / 1000;
      const soak = await publishFeed({
        producer,
        topic: barsTopic,
        feed,
        totalBars: options.soakRate * options.soakSeconds,
        ratePerSecond: options.soakRate,
      });
      await drained(
        async () => (await countBars(database.url)) >= summary.produced + soak.produced,
        options.timeoutMs,
      );
      const soakTo = (performance.now() - started) / 1000;
      clearInterval(sampler);

      const workerMemory = (name: WorkerName): WorkerMemory => {
        const worker = workers.find((candidate) => candidate.name === name);
        const samples = memory.get(name) ?? [];
        return {
          peakMb: readHwmMb(worker?.child.pid) ?? Math.max(...samples.map(([, mb]) => mb)),
          ...soakTrend(samples.filter(([at]) => at >= soakFrom && at <= soakTo)),
          samples,
        };
      };
      return {
        rate: options.rate,
        seconds: options.seconds,
        symbols: SYMBOLS.length,
        produced: summary.produced,
        achievedRate: Math.round(summary.ratePerSecond),
        ...latency,
        cachePollMs: CACHE_POLL_MS,
        envelopesSeen: watcher.envelopes.length,
        soakRate: options.soakRate,
        soakSeconds: options.soakSeconds,
        memory: {
          'stream-bridge': workerMemory('stream-bridge'),
          'cache-warmer': workerMemory('cache-warmer'),
        },
      };
    } finally {
      clearInterval(sampler);
      await producer.close();
    }
  } finally {
    options.log('freshness: stopping the workers, dropping the database, topics and keys');
    await Promise.all(workers.map((worker) => stopWorker(worker)));
    await cache.close();
    await redis.quit().catch(() => undefined);
    await pool.end();
    await admin.deleteTopics(topicSpecs.map((spec) => spec.name)).catch(() => undefined);
    await admin.close();
    await dropNamespace(config.redis.url, keyNamespace);
    await database.drop();
  }
}

/** The feed, recording the wall-clock time each bar is generated (when it is due to be sent). */
function recordingFeed(feed: BarFeed, producedAt: Map<string, number>): BarFeed {
  return {
    next(): FeedBar {
      const bar = feed.next();
      producedAt.set(barKey(bar.symbol, bar.ts), Date.now());
      return bar;
    },
    get generated() {
      return feed.generated;
    },
    lastTsBySymbol: () => feed.lastTsBySymbol(),
  };
}

const barKey = (symbol: string, ts: string): string => `${symbol}|${ts}`;

interface SeenEnvelope {
  readonly symbol: string;
  readonly maxTs: number;
  readonly loadedAt: number;
}

function watchLatestBars(cache: CacheClient): {
  readonly envelopes: SeenEnvelope[];
  reached(symbol: string, ts: string): boolean;
  stop(): void;
} {
  const envelopes: SeenEnvelope[] = [];
  const newest = new Map<string, CacheEnvelope>();
  let polling = false;
  const timer = setInterval(() => {
    if (polling) return; // a slow poll is not stacked on
    polling = true;
    void Promise.all(
      SYMBOLS.map(async (symbol) => {
        const envelope = await cache
          .peek({ dataset: 'latest-bar', symbol, timeframe: '1m' })
          .catch(() => undefined);
        if (envelope === undefined || envelope.maxTs === null) return;
        const previous = newest.get(symbol);
        if (previous?.loadedAt === envelope.loadedAt && previous.maxTs === envelope.maxTs) return;
        newest.set(symbol, envelope);
        envelopes.push({
          symbol,
          maxTs: Date.parse(envelope.maxTs),
          loadedAt: Date.parse(envelope.loadedAt),
        });
      }),
    ).finally(() => {
      polling = false;
    });
  }, CACHE_POLL_MS);
  return {
    envelopes,
    reached: (symbol, ts) => {
      const maxTs = newest.get(symbol)?.maxTs;
      return maxTs !== undefined && maxTs !== null && Date.parse(maxTs) >= Date.parse(ts);
    },
    stop: () => {
      clearInterval(timer);
    },
  };
}

/** Per-bar latencies from the feed's records, the outbox events and the envelopes seen. */
async function latencies(
  databaseUrl: string,
  eventsTopic: string,
  producedAt: ReadonlyMap<string, number>,
  envelopes: readonly SeenEnvelope[],
): Promise<Pick<FreshnessScenarioResult, 'committed' | 'fresh' | 'commitToFresh'>> {
  // Per symbol: the commits (window [from, to) and time), in window order.
  const commits = new Map<string, { from: number; to: number; at: number }[]>();
  const pool = createPool({ url: databaseUrl, poolSize: 1 });
  try {
    const rows = await pool.query<{ payload: unknown }>(
      'SELECT payload FROM backbone.outbox WHERE topic = $1',
      [eventsTopic],
    );
    for (const { payload } of rows.rows) {
      const event = ingestRunEventSchema.parse(payload);
      if (event.dimension !== 'bars') continue;
      const window = {
        from: Date.parse(event.window.from),
        to: Date.parse(event.window.to),
        at: Date.parse(event.producedAt),
      };
      for (const symbol of event.symbols) {
        const list = commits.get(symbol) ?? [];
        list.push(window);
        commits.set(symbol, list);
      }
    }
  } finally {
    await pool.end();
  }
  for (const list of commits.values()) list.sort((a, b) => a.from - b.from);

  // Per symbol: envelopes in loadedAt order with the running newest maxTs, so the first one that
  // reaches a bar is found by binary search.
  const fresh = new Map<string, { loadedAt: number; reach: number }[]>();
  for (const envelope of [...envelopes].sort((a, b) => a.loadedAt - b.loadedAt)) {
    const list = fresh.get(envelope.symbol) ?? [];
    list.push({
      loadedAt: envelope.loadedAt,
      reach: Math.max(envelope.maxTs, list.at(-1)?.reach ?? -Infinity),
    });
    fresh.set(envelope.symbol, list);
  }

  const committed: number[] = [];
  const cached: number[] = [];
  const commitToFresh: number[] = [];
  for (const [key, at] of producedAt) {
    const [symbol = '', ts = ''] = key.split('|');
    const barTs = Date.parse(ts);
    const commit = findLast(commits.get(symbol) ?? [], (window) => window.from <= barTs);
    const commitAt = commit !== undefined && barTs < commit.to ? commit.at : Infinity;
    const list = fresh.get(symbol) ?? [];
    const first = firstIndex(list, (envelope) => envelope.reach >= barTs);
    const freshAt = list[first]?.loadedAt ?? Infinity;
    committed.push(commitAt - at);
    cached.push(freshAt - at);
    commitToFresh.push(freshAt - commitAt);
  }
  return {
    committed: summarize(committed),
    fresh: summarize(cached),
    commitToFresh: summarize(commitToFresh),
  };
}

function summarize(values: number[]): LatencySummary {
  const missing = values.filter((value) => !Number.isFinite(value)).length;
  return { bars: values.length, missing, ...percentiles(values) };
}

/** The last element (in order) matching a monotone predicate (true, …, true, false, …). */
function findLast<T>(sorted: readonly T[], matches: (item: T) => boolean): T | undefined {
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const middle = (low + high) >> 1;
    if (matches(sorted[middle] as T)) low = middle + 1;
    else high = middle;
  }
  return sorted[low - 1];
}

/** Index of the first element matching a monotone predicate (false, …, false, true, …). */
function firstIndex<T>(sorted: readonly T[], matches: (item: T) => boolean): number {
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const middle = (low + high) >> 1;
    if (matches(sorted[middle] as T)) high = middle;
    else low = middle + 1;
  }
  return low;
}

function soakTrend(
  samples: readonly [number, number][],
): Pick<WorkerMemory, 'soakStartMb' | 'soakEndMb' | 'soakSlopeMbPerMinute'> {
  if (samples.length < 2) return { soakStartMb: NaN, soakEndMb: NaN, soakSlopeMbPerMinute: NaN };
  const tenth = Math.max(1, Math.floor(samples.length / 10));
  const mb = samples.map(([, value]) => value);
  const meanAt = samples.reduce((sum, [at]) => sum + at, 0) / samples.length;
  const meanMb = mb.reduce((sum, value) => sum + value, 0) / samples.length;
  let covariance = 0;
  let variance = 0;
  for (const [at, value] of samples) {
    covariance += (at - meanAt) * (value - meanMb);
    variance += (at - meanAt) ** 2;
  }
  const round = (value: number): number => Math.round(value * 10) / 10;
  return {
    soakStartMb: round(median(mb.slice(0, tenth))),
    soakEndMb: round(median(mb.slice(-tenth))),
    soakSlopeMbPerMinute: round(variance === 0 ? 0 : (covariance / variance) * 60),
  };
}

/** `VmRSS` of a process in MB, from /proc (undefined once it is gone). */
function readRssMb(pid: number | undefined): number | undefined {
  return procStatusMb(pid, 'VmRSS');
}

/** `VmHWM`: the process's peak RSS so far, in MB. */
function readHwmMb(pid: number | undefined): number | undefined {
  return procStatusMb(pid, 'VmHWM');
}

function procStatusMb(pid: number | undefined, field: 'VmRSS' | 'VmHWM'): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const match = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(
      readFileSync(`/proc/${String(pid)}/status`, 'utf8'),
    );
    return match?.[1] === undefined ? undefined : Math.round((Number(match[1]) / 1024) * 10) / 10;
  } catch {
    return undefined;
  }
}

async function startWorker(name: WorkerName, configArgs: readonly string[]): Promise<Worker> {
  const configKey = CONFIG_KEYS[name];
  const port = await freePort();
  // Exactly what a deployment runs: the launcher's node, flags and telemetry registration.
  const child = spawn(
    LAUNCHER,
    [
      'serve',
      name,
      ...configArgs,
      ...['--set', `${configKey}.host=127.0.0.1`],
      ...['--set', `${configKey}.port=${String(port)}`],
    ],
    // The harness's environment and working directory: the workers resolve the same config sources.
    { cwd: fileURLToPath(ROOT), stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  let loggedAssignment = false;
  const collect = (chunk: Buffer): void => {
    // The tail is enough for the assignment line and a failure's context; logs never pile up.
    output = (output + chunk.toString('utf8')).slice(-OUTPUT_TAIL_CHARS);
    loggedAssignment ||= output.includes(WARMER_ASSIGNED_LOG);
  };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  return { name, child, port, loggedAssignment: () => loggedAssignment, output: () => output };
}

/**
 * Waits until the worker answers /readyz 200 and its consumer owns partitions (the bars are only
 * produced then): the stream-bridge's /readyz details count the sink's assignments, the
 * cache-warmer logs its assignment.
 */
async function untilAssigned(worker: Worker, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  const assigned = async (): Promise<boolean> => {
    const response = await fetch(`http://127.0.0.1:${String(worker.port)}/readyz`).catch(() => undefined);
    if (response === undefined) return false;
    const body = (await response.json().catch(() => ({}))) as {
      details?: { sink?: { assignments?: number } };
    };
    if (response.status !== 200) return false;
    return worker.name === 'stream-bridge'
      ? (body.details?.sink?.assignments ?? 0) > 0
      : worker.loggedAssignment();
  };
  while (!(await assigned())) {
    const { exitCode, signalCode } = worker.child;
    if (exitCode !== null || signalCode !== null) {
      throw new Error(
        `${worker.name} exited (${String(exitCode ?? signalCode)}) before its assignment: ${worker.output().slice(-2000)}`,
      );
    }
    if (performance.now() > deadline) {
      throw new Error(
        `${worker.name}: no assignment within ${String(timeoutMs)} ms: ${worker.output().slice(-2000)}`,
      );
    }
    await sleep(READY_POLL_MS);
  }
}

/**
 * SIGTERM (the supervisor's clean shutdown), SIGKILL after 5 s: everything is measured by then,
 * and on a loaded machine a clean leave of both consumer groups can take half a minute. The
 * run's database, topics and keys are dropped afterwards either way.
 */
async function stopWorker(worker: Worker): Promise<void> {
  const { child } = worker;
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
  await exited;
  clearTimeout(timer);
}

/** Polls `condition` until it holds (true) or the timeout passes (false). */
async function drained(condition: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (!(await condition())) {
    if (performance.now() > deadline) return false;
    await sleep(DRAIN_POLL_MS);
  }
  return true;
}

/** Unlinks every key under the run's namespace (SCAN, never FLUSH: the Redis is shared). */
async function dropNamespace(redisUrl: string, keyNamespace: string): Promise<void> {
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${keyNamespace}*`, 'COUNT', 1000);
      if (keys.length > 0) await redis.unlink(...keys);
      cursor = next;
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}
