import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { CacheClient, createCacheRedis, createMarketDatasets, redisReady } from '@backbone/cache';
import type { BarRuleOptions, ReadinessStatus } from '@backbone/contracts';
import { migrate } from '@backbone/db';
import {
  createBarFeed,
  createKafkajsClient,
  defaultFeedStart,
  publishFeed,
  type BarFeed,
  type KafkaClient,
} from '@backbone/kafka';
import { startPrivateHaCluster, startPrivateKafka } from '@backbone/stack';
import { BarSink } from '@backbone/stream';
import { createLogger, type Logger } from '@backbone/telemetry';
import type { Redis } from 'ioredis';
import pg from 'pg';
import { kafkaChecks } from '../probes/kafka.ts';
import { redisChecks } from '../probes/redis.ts';
import { replicationCheck } from '../probes/replication.ts';
import { timescaleChecks } from '../probes/timescaledb.ts';
import { runCheck, type CheckDefinition } from '../run-check.ts';
import type { ReadinessRules } from '../rules.ts';
import { DrillLoadError, DrillRefusedError, DrillTargetError } from './errors.ts';
import { runHaPhases, type HaDrillPhases } from './ha-phases.ts';
import { measureOutage, type OutageMeasurement } from './measure-outage.ts';
import { CuttableTcpProxy } from './tcp-proxy.ts';

/** The dependencies a drill can cut. */
export const DRILL_TARGETS = ['redis', 'kafka', 'timescale'] as const;
export type DrillTarget = (typeof DRILL_TARGETS)[number];

export interface DrillOptions {
  databaseUrl: string;
  redisUrl: string;
  kafkaBrokers: readonly string[];
  /** Probe timeout and the rest of the readiness rules (`rulesFromConfig(config)`). */
  rules: ReadinessRules;
  /** The sink's bar rules (`barRuleOptionsFromSettings(config.ingest)`); default: the contracts' defaults. */
  barRules?: BarRuleOptions;
  /** Required to run against any host other than 127.0.0.1/localhost. */
  confirmNonLocal?: boolean;
  /**
   * `timescale` only: run the load against a private PostgreSQL HA cluster (Patroni primary +
   * synchronous standby, HAProxy) the drill starts on free ports, kill its primary's postmaster,
   * then switch over back (see {@link DrillReport.phases}). `databaseUrl` is then not used.
   */
  ha?: boolean;
  /** Bars the feed produces in total (default 1500). */
  totalBars?: number;
  /** Feed pace in bars per second (default 150): the load keeps running across cut and restore. */
  ratePerSecond?: number;
  /** Symbols of the feed; the cache reads their latest bar (default EURUSD, GBPUSD, USDJPY). */
  symbols?: readonly string[];
  /** Pause between probes while waiting for detection or recovery (default 200 ms). */
  pollIntervalMs?: number;
  /**
   * Bound on every wait: baseline, detection, recovery, catch-up, cache freshness (default 30 s;
   * 120 s for `kafka`, whose restore is a JVM start and whose clients back off up to 30 s; 60 s
   * with `ha`, whose recovery includes the old primary's rejoin).
   */
  timeoutMs?: number;
  logger?: Logger;
}

/** What a drill measured and reconciled. */
export interface DrillReport {
  target: DrillTarget;
  /** Private HA cluster (`ha`): the cut was a SIGKILL of the primary's postmaster. */
  ha: boolean;
  /**
   * Seconds from the cut until the readiness probe said `fail` (`timescaledb.connection`;
   * with `ha`, `timescaledb.replication`: no writable primary).
   */
  detectionSeconds: number;
  /**
   * Seconds from the restore until it said `ok` again (with `ha`: from `fail` until `ok`, i.e. a
   * writable primary with the old one back as synchronous standby; nothing is restored by hand).
   */
  recoverySeconds: number;
  /** Bars the feed produced (acknowledged by Kafka; a send blocked by the outage is retried until it is). */
  produced: number;
  /**
   * Bars acknowledged when the cut began. Less than `produced`: the load ran across the outage
   * (the drill measured a cut under load, not a cut after the feed had finished).
   */
  producedAtCut: number;
  /** Distinct produced bars found in the table. */
  stored: number;
  /** produced − stored. */
  lost: number;
  /** Extra rows per key plus rows written more than once (revision > 0, re-applied records). */
  duplicated: number;
  /** Every symbol's cached latest bar is the last bar the feed produced, served from Redis. */
  cacheFresh: boolean;
  /** With `ha`: bars acknowledged when the switchover was requested (less than `produced`: under load). */
  producedAtSwitchover?: number;
  /** With `ha`: the failover, the old primary's rejoin and the switchover, timed in ms. */
  phases?: HaDrillPhases;
}

const LOCAL_HOSTS = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);
const CACHE_POLICY = { ttlSeconds: 1, maxKeysPerDataset: 1_000, staleGraceSeconds: 5 };

/**
 * A real failover drill: runs a measured load (feed → bar topic → BarSink → a private database;
 * cache reads of the latest bar per symbol), cuts the target dependency, measures until readiness
 * says `fail`, restores it, measures until `ok`, then reconciles the table against every bar
 * produced and checks the cache is fresh again. `redis` and `timescale` are reached only through
 * a {@link CuttableTcpProxy} (the probe too), which the drill cuts. `kafka` cannot be proxied (the
 * broker advertises its own address), so the load runs against a private broker the drill starts
 * from the stack's jars on free ports, stops (a real process stop) and starts again on the same
 * storage. With `ha` (timescale only) the load runs against a private Patroni HA cluster through
 * its HAProxy, and the cut is a SIGKILL of the primary's postmaster followed by a switchover back
 * ({@link runHaPhases}). The shared services are never stopped; the drill's database, topics, keys,
 * private broker and private HA cluster are removed at the end.
 *
 * @example const report = await runDrill('redis', { databaseUrl, redisUrl, kafkaBrokers, rules: rulesFromConfig(config) });
 */
export async function runDrill(target: DrillTarget, options: DrillOptions): Promise<DrillReport> {
  if (!(DRILL_TARGETS as readonly string[]).includes(target)) {
    throw new DrillTargetError(target, `not one of ${DRILL_TARGETS.join(', ')}`);
  }
  const ha = options.ha === true;
  if (ha && target !== 'timescale') {
    throw new DrillTargetError(target, 'ha applies only to the timescale drill');
  }
  refuseNonLocal(options);
  const logger = options.logger ?? createLogger({ name: 'drill', level: 'error' });
  const timeoutMs = options.timeoutMs ?? (target === 'kafka' ? 120_000 : ha ? 60_000 : 30_000);
  const symbols = options.symbols ?? ['EURUSD', 'GBPUSD', 'USDJPY'];
  const totalBars = options.totalBars ?? 1_500;
  const id = randomBytes(6).toString('hex');
  const resources = new Resources();
  try {
    const cluster = ha
      ? await startPrivateHaCluster({
          purpose: 'drill',
          log: (message) => {
            logger.info(message);
          },
        })
      : undefined;
    if (cluster) resources.defer(() => cluster.dispose());
    const database = await createDrillDatabase(
      cluster?.endpoints.databaseUrl ?? options.databaseUrl,
      `backbone_drill_${id}`,
    );
    resources.defer(database.drop);
    const direct = new pg.Pool({ connectionString: database.url, max: 2 });
    direct.on('error', () => undefined);
    resources.defer(() => direct.end());

    // With `ha` nothing is proxied: the sink reaches the cluster through its HAProxy, as workers do.
    const cuttable = ha
      ? selfHealing()
      : target === 'kafka'
        ? await privateBroker(logger)
        : await proxied(target, { databaseUrl: database.url, redisUrl: options.redisUrl });
    resources.defer(() => cuttable.dispose());
    const endpoints = {
      databaseUrl: database.url,
      redisUrl: options.redisUrl,
      kafkaBrokers: [...options.kafkaBrokers],
      ...cuttable.endpoints,
    };

    const sinkPool = new pg.Pool({
      connectionString: endpoints.databaseUrl,
      max: 4,
      connectionTimeoutMillis: 2_000,
    });
    sinkPool.on('error', () => undefined);
    // A cut ends connections that are checked out but between queries; pg emits that on the client
    // itself, where no one listens, and Node would crash. The next query on it fails and is retried.
    sinkPool.on('connect', (client) => {
      client.on('error', () => undefined);
    });
    resources.defer(() => sinkPool.end());

    const redis = createCacheRedis(
      { url: endpoints.redisUrl, tls: { enabled: false, rejectUnauthorized: true } },
      { connectionName: 'backbone-drill', onError: () => undefined },
    );
    resources.defer(() => {
      redis.disconnect();
    });
    const keyNamespace = `backbone:drill:${id}:`;
    resources.defer(() => deleteKeys(options.redisUrl, keyNamespace));
    const cache = new CacheClient({
      redis,
      keyNamespace,
      datasets: createMarketDatasets(sinkPool, {
        latestBar: { enabled: true },
        recentBars: { enabled: false, count: 1 },
        rollups: { enabled: false, days: 1 },
        macroCalendar: { enabled: false, days: 1 },
      }),
      policy: CACHE_POLICY,
      loadTimeoutMs: 1_000,
    });
    resources.defer(() => cache.close());

    const kafka = createKafkajsClient({
      brokers: endpoints.kafkaBrokers,
      clientId: `backbone-drill-${id}`,
      logLevel: 'error',
    });
    const admin = kafka.admin();
    await admin.connect();
    resources.defer(() => admin.close());
    const topic = `backbone.drill.${id}.bars`;
    const deadLetterTopic = `${topic}.dlq`;
    await admin.createTopics([
      { name: topic, partitions: 3, replicationFactor: 1, configs: {} },
      { name: deadLetterTopic, partitions: 1, replicationFactor: 1, configs: {} },
    ]);
    resources.defer(() => admin.deleteTopics([topic, deadLetterTopic]));
    const producer = kafka.producer();
    await producer.connect();
    resources.defer(() => producer.close());

    const probe = probeOf(target, {
      patroniUrls: cluster?.endpoints.patroniUrls,
      databaseUrl: database.url,
      sinkPool,
      redis,
      keyNamespace,
      kafka,
      deadLetterTopic,
      rules: options.rules,
    });
    resources.defer(() => probe.close());

    const sink = new BarSink({
      kafka,
      pool: sinkPool,
      logger,
      groupId: `backbone-drill-${id}`,
      topic,
      deadLetterTopic,
      ingestEventsTopic: `${topic}.events`,
      maxBatchRecords: 200,
      maxBatchBytes: 1_048_576,
      maxMessageBytes: 65_536,
      retryBackoff: { initialMs: 50, maxMs: 500 },
      ...(options.barRules === undefined ? {} : { rules: options.barRules }),
    });
    await sink.start();
    resources.defer(() => sink.stop());
    // The feed starts once the sink is in its group: joining (on a fresh private broker, with the
    // offsets topic to create) can take longer than the whole feed, and the cut must come while
    // the feed is still producing.
    await until('sink assignment', timeoutMs, () => Promise.resolve(sink.stats().assignments > 0));
    // First in the clean-up: a drill that failed mid-outage must not leave the sink (or a send
    // of the feed, which the producer retries without end) cut off.
    resources.defer(() => cuttable.ensureRestored());

    const produced = new Set<string>();
    const feed = recording(
      createBarFeed({
        symbols,
        timeframe: '1m',
        seed: 7,
        start: defaultFeedStart(new Date(), '1m', totalBars, symbols.length),
        source: 'drill',
      }),
      produced,
    );
    let acknowledged = 0;
    const stopFeed = new AbortController();
    resources.defer(() => {
      stopFeed.abort();
    });
    // kafkajs gives up on a broker that stays away longer than its reconnect attempts (a restart
    // takes tens of seconds), so the feed re-sends a failed request until the broker is back.
    const feeding = publishFeed({
      producer,
      topic,
      signal: stopFeed.signal,
      resend: {
        maxOutageMs: Infinity,
        onResend: (error) => {
          logger.warn({ err: error }, 'the feed send failed; sending it again');
        },
      },
      feed,
      totalBars,
      ratePerSecond: options.ratePerSecond ?? 150,
      // After every acknowledged request, so the count at the cut is exact.
      progressIntervalMs: 0,
      onProgress: (progress) => {
        acknowledged = progress.produced;
      },
    });
    // Settled here so a failure while the outage is measured is not an unhandled rejection.
    const fed = feeding.then(
      (summary) => ({ summary }),
      (error: unknown) => ({ error }),
    );
    const reads = new AbortController();
    const reading = readCache(cache, symbols, reads.signal);

    await until('load', timeoutMs, () => Promise.resolve(sink.stats().inserted > 0));
    if (acknowledged >= totalBars) {
      throw new DrillLoadError(
        'load',
        `the feed had produced all ${totalBars} bars before the sink stored one, so no load would run across the outage; raise --bars or lower --rate`,
      );
    }
    let producedAtCut = 0;
    let producedAtSwitchover = 0;
    const pollIntervalMs = options.pollIntervalMs ?? 200;
    const outage: OutageMeasurement & { phases?: HaDrillPhases } = cluster
      ? await runHaPhases({
          ha: cluster.ha,
          probe: probe.run,
          sinkStats: () => sink.stats(),
          onTrigger: (phase) => {
            if (phase === 'failover') producedAtCut = acknowledged;
            else producedAtSwitchover = acknowledged;
          },
          pollIntervalMs,
          timeoutMs,
        })
      : await measureOutage({
          probe: probe.run,
          cut: () => {
            producedAtCut = acknowledged;
            return cuttable.cut();
          },
          restore: () => cuttable.restore(),
          pollIntervalMs,
          timeoutMs,
        });

    const feedResult = await fed;
    reads.abort();
    await reading;
    if ('error' in feedResult) {
      throw new DrillLoadError('feed', 'the feed failed while the drill ran', { cause: feedResult.error });
    }
    const producedCount = feedResult.summary.produced;
    await until('catch-up', timeoutMs, async () => {
      const stats = sink.stats();
      return stats.records + stats.fenced >= producedCount && (await countRows(direct)) >= produced.size;
    }).catch((error: unknown) => {
      // A sink that never catches up is reported as lost bars, not as a crash of the drill.
      logger.warn({ err: error }, 'the sink did not catch up; reconciling what is stored');
    });

    const reconciled = await reconcile(direct, produced, sink.stats());
    const lastTs = feed.lastTsBySymbol();
    const cacheFresh = await until('cache freshness', timeoutMs, async () => {
      for (const symbol of symbols) {
        const result = await cache.get<{ ts: string } | null>({
          dataset: 'latest-bar',
          symbol,
          timeframe: '1m',
        });
        if (!['cache', 'loaded', 'peer'].includes(result.source)) return false;
        const ts = result.envelope.data?.ts;
        if (ts === undefined || Date.parse(ts) !== Date.parse(lastTs[symbol] ?? '')) return false;
      }
      return true;
    }).then(
      () => true,
      () => false,
    );
    return {
      target,
      ha,
      detectionSeconds: outage.detectionSeconds,
      recoverySeconds: outage.recoverySeconds,
      produced: producedCount,
      producedAtCut,
      ...reconciled,
      cacheFresh,
      ...(outage.phases === undefined ? {} : { producedAtSwitchover, phases: outage.phases }),
    };
  } finally {
    await resources.release(logger);
  }
}

/** Throws {@link DrillRefusedError} when a service is not on this machine and not confirmed. */
function refuseNonLocal(options: DrillOptions): void {
  if (options.confirmNonLocal === true) return;
  const hosts = [
    // With `ha` the database is the drill's own private cluster on loopback.
    ...(options.ha === true ? [] : [new URL(options.databaseUrl).hostname]),
    new URL(options.redisUrl).hostname,
    ...options.kafkaBrokers.map((broker) => broker.replace(/:\d+$/, '')),
  ];
  const remote = [...new Set(hosts.filter((host) => !LOCAL_HOSTS.has(host)))];
  if (remote.length > 0) throw new DrillRefusedError(remote);
}

/** One readiness check of the target, run live; `close()` releases what it holds. */
interface DrillProbe {
  readonly run: () => Promise<ReadinessStatus>;
  readonly close: () => Promise<void>;
}

function probeOf(
  target: DrillTarget,
  input: {
    /** Set with `ha`: the probe is `timescaledb.replication` of the private cluster. */
    patroniUrls: string[] | undefined;
    databaseUrl: string;
    sinkPool: pg.Pool;
    redis: Redis;
    keyNamespace: string;
    kafka: KafkaClient;
    deadLetterTopic: string;
    rules: ReadinessRules;
  },
): DrillProbe {
  const { rules } = input;
  const nothingToClose = (): Promise<void> => Promise.resolve();
  const probe = (checks: CheckDefinition[], name: string, close: () => Promise<void>): DrillProbe => {
    const check = checks.find((candidate) => candidate.name === name);
    if (check === undefined) throw new DrillTargetError(target, `no ${name} check`);
    return { run: async () => (await runCheck(check, rules.probeTimeoutMs)).status, close };
  };
  switch (target) {
    case 'timescale':
      if (input.patroniUrls !== undefined) {
        const check = replicationCheck({
          patroniUrls: input.patroniUrls,
          databaseUrl: input.databaseUrl,
          rules,
        });
        return {
          run: async () => (await runCheck(check, rules.probeTimeoutMs)).status,
          close: nothingToClose,
        };
      }
      return probe(
        timescaleChecks({
          pool: input.sinkPool,
          rules,
          expectations: { daily: {}, intraday: {}, macroSources: [] },
        }),
        'timescaledb.connection',
        nothingToClose,
      );
    case 'redis':
      return probe(
        redisChecks({ redis: input.redis, keyNamespace: input.keyNamespace, rules }),
        'redis.ping',
        nothingToClose,
      );
    case 'kafka': {
      const kafka = kafkaChecks({
        createAdmin: () => input.kafka.admin(),
        rules,
        topics: [],
        groups: [],
        deadLetterTopic: input.deadLetterTopic,
        pool: input.sinkPool,
      });
      return probe(kafka.checks, 'kafka.cluster', () => kafka.close());
    }
  }
}

/**
 * What a drill cuts and restores, and the endpoints of the load's clients that change because of
 * it (the others stay the configured ones).
 */
interface Cuttable {
  endpoints: { databaseUrl?: string; redisUrl?: string; kafkaBrokers?: string[] };
  cut(): Promise<void>;
  restore(): Promise<void>;
  /** Restores the target if a drill that failed mid-outage left it cut. */
  ensureRestored(): Promise<void>;
  dispose(): Promise<void>;
}

/** The HA cluster: Patroni promotes the standby and HAProxy follows; the drill restores nothing. */
function selfHealing(): Cuttable {
  const nothing = (): Promise<void> => Promise.resolve();
  return { endpoints: {}, cut: nothing, restore: nothing, ensureRestored: nothing, dispose: nothing };
}

/** `redis` or `timescale` behind a {@link CuttableTcpProxy}: only the drill's clients go through it. */
async function proxied(
  target: 'redis' | 'timescale',
  configured: { databaseUrl: string; redisUrl: string },
): Promise<Cuttable> {
  const upstream = new URL(target === 'timescale' ? configured.databaseUrl : configured.redisUrl);
  const proxy = await CuttableTcpProxy.start({
    host: upstream.hostname,
    port: Number(upstream.port || (target === 'timescale' ? 5432 : 6379)),
  });
  const through = new URL(upstream);
  through.host = `127.0.0.1:${proxy.port}`;
  const restore = (): Promise<void> => {
    proxy.restore();
    return Promise.resolve();
  };
  return {
    endpoints:
      target === 'timescale' ? { databaseUrl: through.toString() } : { redisUrl: through.toString() },
    cut: () => {
      proxy.cut();
      return Promise.resolve();
    },
    restore,
    ensureRestored: restore,
    dispose: () => proxy.close(),
  };
}

/**
 * A private Kafka broker (free ports, temporary storage, the stack's jars): the shared broker
 * cannot be stopped without disturbing everything else on it. The cut is a real process stop
 * (SIGTERM, a controlled shutdown); detection is timed from that signal, not from the process
 * being gone, because the broker stops answering part-way through its shutdown. The restore
 * waits for the old process to be gone, then starts the broker again on the same ports and
 * storage and waits until it answers: a JVM start, tens of seconds on a busy machine.
 */
async function privateBroker(logger: Logger): Promise<Cuttable> {
  const broker = await startPrivateKafka({
    purpose: 'drill',
    log: (message) => {
      logger.info(message);
    },
  });
  let stopping: Promise<void> | undefined;
  const restore = async (): Promise<void> => {
    await stopping;
    stopping = undefined;
    await broker.start();
  };
  return {
    endpoints: { kafkaBrokers: broker.brokers },
    cut: () => {
      stopping = broker.stop();
      // Awaited by the restore; kept here from becoming an unhandled rejection meanwhile.
      stopping.catch(() => undefined);
      return Promise.resolve();
    },
    restore,
    ensureRestored: async () => {
      if (stopping !== undefined || !broker.running) await restore();
    },
    dispose: () => broker.dispose(),
  };
}

/** The feed, remembering the key of every bar it hands out. */
function recording(feed: BarFeed, produced: Set<string>): BarFeed {
  return {
    next() {
      const bar = feed.next();
      produced.add(barKey(bar.symbol, bar.ts));
      return bar;
    },
    get generated() {
      return feed.generated;
    },
    lastTsBySymbol: () => feed.lastTsBySymbol(),
  };
}

function barKey(symbol: string, ts: string | Date): string {
  return `${symbol}|${new Date(ts).toISOString()}`;
}

/** Reads every symbol's latest bar through the cache until aborted; failures are the outage. */
async function readCache(cache: CacheClient, symbols: readonly string[], signal: AbortSignal): Promise<void> {
  while (!signal.aborted) {
    await Promise.allSettled(
      symbols.map((symbol) => cache.get({ dataset: 'latest-bar', symbol, timeframe: '1m' })),
    );
    await sleep(100, undefined, { signal }).catch(() => undefined);
  }
}

async function countRows(pool: pg.Pool): Promise<number> {
  const { rows } = await pool.query<{ n: string }>('SELECT count(*)::text AS n FROM market_data.bars');
  return Number(rows[0]?.n ?? 0);
}

async function reconcile(
  pool: pg.Pool,
  produced: ReadonlySet<string>,
  stats: { updated: number; unchanged: number },
): Promise<{ stored: number; lost: number; duplicated: number }> {
  const { rows } = await pool.query<{ symbol: string; ts: Date; copies: number; rewritten: number }>(
    `SELECT symbol, ts, count(*)::int AS copies, count(*) FILTER (WHERE revision > 0)::int AS rewritten
       FROM market_data.bars GROUP BY symbol, timeframe, ts`,
  );
  let stored = 0;
  let duplicated = stats.unchanged;
  for (const row of rows) {
    if (produced.has(barKey(row.symbol, row.ts))) stored += 1;
    duplicated += row.copies - 1 + row.rewritten;
  }
  return { stored, lost: produced.size - stored, duplicated };
}

/** Polls `condition` until true; throws {@link DrillLoadError} after `timeoutMs`. */
async function until(phase: string, timeoutMs: number, condition: () => Promise<boolean>): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    if (await condition().catch(() => false)) return;
    if (performance.now() >= deadline) throw new DrillLoadError(phase, `not reached within ${timeoutMs} ms`);
    await sleep(100);
  }
}

async function createDrillDatabase(
  serverUrl: string,
  name: string,
): Promise<{ url: string; drop: () => Promise<void> }> {
  const adminUrl = withDatabase(serverUrl, 'postgres');
  const url = withDatabase(serverUrl, name);
  // `name` is generated here from hex digits: a safe identifier.
  await withClient(adminUrl, (client) => client.query(`CREATE DATABASE ${name}`));
  await withClient(url, (client) => migrate(client));
  return {
    url,
    drop: async () => {
      await withClient(adminUrl, (client) => client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
    },
  };
}

function withDatabase(serverUrl: string, database: string): string {
  const url = new URL(serverUrl);
  url.pathname = `/${database}`;
  return url.toString();
}

async function withClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** Removes the drill's cache keys from the real Redis (not through the proxy). */
async function deleteKeys(redisUrl: string, keyNamespace: string): Promise<void> {
  const redis = createCacheRedis(
    { url: redisUrl, tls: { enabled: false, rejectUnauthorized: true } },
    { connectionName: 'backbone-drill-cleanup', commandTimeoutMs: 2_000, onError: () => undefined },
  );
  try {
    if (!(await redisReady(redis, 2_000))) throw new Error('Redis did not answer; drill keys left behind');
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${keyNamespace}*`, 'COUNT', 500);
      cursor = next;
      if (keys.length > 0) await redis.unlink(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

/** Clean-up steps, run in reverse order of creation; a failing step does not stop the others. */
class Resources {
  readonly #steps: (() => unknown)[] = [];

  defer(step: () => unknown): void {
    this.#steps.push(step);
  }

  async release(logger: Logger): Promise<void> {
    for (const step of this.#steps.reverse()) {
      try {
        await step();
      } catch (error) {
        logger.warn({ err: error }, 'drill clean-up step failed');
      }
    }
  }
}
