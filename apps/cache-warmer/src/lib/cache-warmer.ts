import { parseRollupsRefreshed, ROLLUPS_REFRESHED_CHANNEL, type RollupsRefreshed } from '@backbone/db';
import {
  DATASETS,
  ROLLUP_TIMEFRAMES,
  type CacheClient,
  type CacheRequest,
  type DatasetName,
  type WarmResult,
} from '@backbone/cache';
import {
  JOBS,
  QUEUES,
  TOPICS,
  decodeTopicMessage,
  parseJobPayload,
  type IngestRunEvent,
  type Timeframe,
  type WarmAllJob,
  type WarmSymbolJob,
} from '@backbone/contracts';
import type { ConsumedBatch, ConsumerPort, KafkaClient } from '@backbone/kafka';
import {
  currentTraceContext,
  runInSpan,
  startBullmqConsumerSpan,
  startKafkaConsumerSpan,
  type Logger,
} from '@backbone/telemetry';
import { metrics, type Counter } from '@opentelemetry/api';
import { Queue, UnrecoverableError, Worker, type Job, type JobsOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import pg from 'pg';
import { ZodError } from 'zod';
import { planRollupsRefresh, planWarm, warmJobId, type WarmPlan } from './warm-plan.ts';

export interface CacheWarmerOptions {
  cache: CacheClient;
  pool: pg.Pool;
  /** Settings of the dedicated connection that LISTENs for rollup refreshes (the pool's URL). */
  listenConnection: pg.ClientConfig;
  kafka: KafkaClient;
  /** Producer connection for the queue (fails fast). */
  queueRedis: Redis;
  /** The BullMQ worker's connection: `maxRetriesPerRequest: null`, as BullMQ requires. */
  workerRedis: Redis;
  logger: Logger;
  keyNamespace: string;
  /** Datasets enabled in `redis.cache.datasets`. */
  datasets: ReadonlySet<DatasetName>;
  /** Jobs processed at once (`workers.cacheWarmer.concurrency`). */
  concurrency: number;
  /** Interval of the scheduled full re-warm (the safety net for lost events). */
  rewarmEveryMs: number;
  /** Most slices one warm-all discovers per dataset (`redis.cache.maxKeysPerDataset`). */
  maxKeysPerDataset: number;
  /** Trailing window in which warm-all discovers symbols with bars. */
  discoveryDays: number;
  /** Topic of ingest-run events; tests use a unique one. */
  topic?: string;
  /**
   * Consumer group; every warmer instance of one cache shares it, so each event is handled once.
   * Default: {@link cacheWarmerGroupId} of the key namespace.
   */
  groupId?: string;
}

/** What one warm job did, stored by BullMQ as its return value. */
export interface WarmJobOutcome {
  warmed: { request: CacheRequest; outcome: WarmResult['outcome'] }[];
}

const JOB_OPTIONS = {
  attempts: 5,
  backoff: { type: 'exponential', delay: 200 },
  removeOnComplete: { count: 100 },
  removeOnFail: { count: 1_000 },
} as const satisfies JobsOptions;

export const REWARM_SCHEDULER_ID = 'cache-warm-all';

/** How long the claim on one rollup refresh lives: far longer than any refresh's fan-out. */
const REFRESH_CLAIM_TTL_MS = 10 * 60_000;

/**
 * The consumer group of the warmers of one cache (one key namespace): `<namespace>cache-warmer`.
 * Each cache must see every ingest event, so two caches on one Kafka cluster (a second
 * deployment, an isolated test run) never share a group and split the events between them.
 *
 * @example cacheWarmerGroupId('backbone:') // 'backbone:cache-warmer'
 */
export function cacheWarmerGroupId(keyNamespace: string): string {
  return `${keyNamespace}cache-warmer`;
}

/** The BullMQ key prefix under the namespace (the same convention as every worker). */
export function bullmqPrefix(keyNamespace: string): string {
  return `${keyNamespace}bull`;
}

/**
 * The cache-warmer: turns committed ingest runs (Kafka `backbone.ingest-events.v1`) into
 * version bumps and de-duplicated `cache-warm` jobs, processes those jobs by loading fresh
 * slices into Redis, re-warms the rollup slices whenever the rollup tables are refreshed, and
 * keeps a scheduled full re-warm as a safety net. Its loops are separate supervisor children:
 * {@link runEventsConsumer}, {@link runWorker}, {@link runScheduler}, {@link runRollupsListener}.
 */
export class CacheWarmer {
  readonly queue: Queue;
  readonly topic: string;
  readonly groupId: string;
  readonly #options: CacheWarmerOptions;
  readonly #events: Counter;
  readonly #warms: Counter;
  readonly #assigned = Promise.withResolvers<undefined>();
  readonly #listening = Promise.withResolvers<undefined>();
  #consumer: ConsumerPort | undefined;
  #worker: Worker | undefined;

  constructor(options: CacheWarmerOptions) {
    this.#options = options;
    this.topic = options.topic ?? TOPICS.ingestEvents;
    this.groupId = options.groupId ?? cacheWarmerGroupId(options.keyNamespace);
    this.queue = new Queue(QUEUES.cacheWarm, {
      connection: options.queueRedis,
      prefix: bullmqPrefix(options.keyNamespace),
    });
    const meter = metrics.getMeter('@backbone/cache-warmer');
    this.#events = meter.createCounter('backbone.cache.events', {
      description:
        'Triggers (ingest-event, rollups-refreshed) by result (planned, ignored, rejected, claimed-elsewhere).',
    });
    this.#warms = meter.createCounter('backbone.cache.warms', {
      description: 'Slices warmed by dataset and outcome (written, peer-loading, superseded).',
    });
  }

  /** Resolves once the events consumer has its first partition assignment. */
  get assigned(): Promise<undefined> {
    return this.#assigned.promise;
  }

  /** Resolves once the rollups listener LISTENs (refreshes from then on are applied). */
  get listening(): Promise<undefined> {
    return this.#listening.promise;
  }

  /** True while the consumer and the worker are running. */
  isRunning(): boolean {
    return this.#consumer !== undefined && (this.#worker?.isRunning() ?? false);
  }

  /**
   * Applies one ingest-run event: bumps the versions it makes stale (readers stop seeing the old
   * slices at once), then enqueues one de-duplicated warm job per slice. Safe to repeat: a
   * redelivered event only bumps again and re-warms.
   */
  async applyEvent(event: IngestRunEvent): Promise<number> {
    return this.#apply(planWarm(event, this.#options.datasets));
  }

  /**
   * Applies one rollup refresh: invalidates and re-warms every rollup slice the cache holds, from
   * the refreshed tables. Every instance hears the notification; one claim in Redis per refresh
   * lets only the first do the work. Returns the jobs queued (0 when claimed elsewhere).
   */
  async applyRollupsRefresh(refreshed: RollupsRefreshed): Promise<number> {
    const claim = `${this.#options.keyNamespace}cache:claims:rollups-refreshed:${refreshed.refreshId}`;
    if ((await this.#options.queueRedis.set(claim, '1', 'PX', REFRESH_CLAIM_TTL_MS, 'NX')) !== 'OK') {
      this.#events.add(1, { trigger: 'rollups-refreshed', result: 'claimed-elsewhere' });
      return 0;
    }
    const jobs = await this.#apply(planRollupsRefresh(await this.#options.cache.trackedEntries('rollups')));
    this.#events.add(1, { trigger: 'rollups-refreshed', result: jobs === 0 ? 'ignored' : 'planned' });
    return jobs;
  }

  /** Bumps the versions a plan makes stale (readers stop seeing the old slices at once), then queues its jobs. */
  async #apply({ invalidations, jobs }: WarmPlan): Promise<number> {
    for (const { dataset, symbol, timeframe } of invalidations) {
      await this.#options.cache.invalidate(dataset, symbol, timeframe);
    }
    if (jobs.length === 0) return 0;
    const traceContext = currentTraceContext();
    await this.queue.addBulk(
      jobs.map((job) => ({
        name: JOBS.warmSymbol,
        data: traceContext === undefined ? job : { ...job, traceContext },
        // One queued job per slice; an event arriving while that job runs queues one more (the
        // running one may have read the database before the commit that event announces).
        opts: { ...JOB_OPTIONS, deduplication: { id: warmJobId(job), keepLastIfActive: true } },
      })),
    );
    return jobs.length;
  }

  /** Consumes ingest-run events until `signal` aborts; offsets are committed after each batch. */
  async runEventsConsumer(signal: AbortSignal): Promise<void> {
    const consumer = this.#options.kafka.consumer({ groupId: this.groupId });
    const crashed = Promise.withResolvers<never>();
    await consumer.connect();
    this.#consumer = consumer;
    try {
      await consumer.subscribe([this.topic]);
      await consumer.run({
        eachBatch: (batch) => this.#handleBatch(consumer, batch),
        onPartitionsAssigned: (assigned) => {
          // Each join replaces the whole assignment: this line says what this instance now owns.
          this.#options.logger.info(
            {
              group: this.groupId,
              partitions: assigned.flatMap((tp) => tp.partitions.map((p) => `${tp.topic}:${p}`)),
            },
            'ingest events partitions assigned',
          );
          this.#assigned.resolve(undefined);
          return Promise.resolve([]);
        },
        onCrash: (error) => {
          crashed.reject(error);
        },
      });
      this.#options.logger.info({ topic: this.topic, group: this.groupId }, 'ingest events consumer started');
      await Promise.race([aborted(signal), crashed.promise]);
    } finally {
      this.#consumer = undefined;
      await consumer.close();
    }
  }

  /**
   * LISTENs for rollup refreshes (`refreshRollups` in @backbone/db NOTIFYs after each one) until
   * `signal` aborts, and applies each. A lost connection fails the child (the supervisor restarts
   * it); a notification missed meanwhile is made good by the next refresh, which re-warms every
   * rollup slice anyway, and by the scheduled re-warm.
   */
  async runRollupsListener(signal: AbortSignal): Promise<void> {
    if (!this.#options.datasets.has('rollups')) return aborted(signal);
    const { logger } = this.#options;
    const listener = new pg.Client({ connectionTimeoutMillis: 5_000, ...this.#options.listenConnection });
    const lost = Promise.withResolvers<never>();
    // Raced below; this keeps a rejection before the race (or after it settled) handled.
    lost.promise.catch(() => undefined);
    listener.on('error', (error) => {
      lost.reject(error);
    });
    listener.on('end', () => {
      lost.reject(new Error('rollups LISTEN connection ended'));
    });
    // Refreshes are applied one at a time, in the order they were announced.
    let applying = Promise.resolve();
    listener.on('notification', (message) => {
      if (message.channel !== ROLLUPS_REFRESHED_CHANNEL) return;
      const refreshed = parseRollupsRefreshed(message.payload);
      if (refreshed === undefined) {
        this.#events.add(1, { trigger: 'rollups-refreshed', result: 'rejected' });
        logger.warn({ payload: message.payload?.slice(0, 200) }, 'rollups refreshed notification rejected');
        return;
      }
      applying = applying
        .then(async () => {
          const jobs = await this.applyRollupsRefresh(refreshed);
          logger.info({ ...refreshed, jobs }, 'rollups refreshed: rollup slices re-warming');
        })
        .catch((error: unknown) => {
          // The next refresh re-warms every rollup slice again.
          logger.warn({ err: error, ...refreshed }, 'rollups refresh not applied');
        });
    });
    try {
      await listener.connect();
      await listener.query(`LISTEN ${ROLLUPS_REFRESHED_CHANNEL}`);
      logger.info({ channel: ROLLUPS_REFRESHED_CHANNEL }, 'listening for rollup refreshes');
      this.#listening.resolve(undefined);
      await Promise.race([aborted(signal), lost.promise]);
    } finally {
      await listener.end().catch(() => undefined);
      await applying;
    }
  }

  /** Processes `cache-warm` jobs until `signal` aborts, then waits for the running ones. */
  async runWorker(signal: AbortSignal): Promise<void> {
    const worker = new Worker(QUEUES.cacheWarm, (job) => this.#process(job), {
      connection: this.#options.workerRedis,
      prefix: bullmqPrefix(this.#options.keyNamespace),
      concurrency: this.#options.concurrency,
    });
    worker.on('error', (error) => {
      this.#options.logger.error({ err: error }, 'cache-warm worker error');
    });
    this.#worker = worker;
    try {
      await worker.waitUntilReady();
      await aborted(signal);
    } finally {
      this.#worker = undefined;
      await worker.close();
    }
  }

  /**
   * Upserts the full re-warm scheduler (shared by every instance: one id) and queues one
   * start-up re-warm, then waits for `signal`.
   */
  async runScheduler(signal: AbortSignal): Promise<void> {
    await this.queue.upsertJobScheduler(
      REWARM_SCHEDULER_ID,
      { every: this.#options.rewarmEveryMs },
      { name: JOBS.warmAll, data: { reason: 'scheduled' } satisfies WarmAllJob, opts: JOB_OPTIONS },
    );
    await this.queue.add(JOBS.warmAll, { reason: 'startup' } satisfies WarmAllJob, {
      ...JOB_OPTIONS,
      deduplication: { id: 'warm-all:startup' },
    });
    await aborted(signal);
  }

  async #handleBatch(consumer: ConsumerPort, batch: ConsumedBatch): Promise<void> {
    let last: bigint | undefined;
    for (const message of batch.messages) {
      if (!batch.isRunning() || batch.isStale()) break;
      const span = startKafkaConsumerSpan({
        topic: batch.topic,
        partition: batch.partition,
        message: { key: message.key, offset: message.offset.toString(), headers: message.headers },
        groupId: this.groupId,
      });
      await runInSpan(span, async () => {
        const decoded = decodeTopicMessage(TOPICS.ingestEvents, message.value);
        if (!decoded.ok) {
          // A bad event cannot be fixed by retrying; it is counted and skipped, and the full
          // re-warm covers whatever it would have refreshed.
          this.#events.add(1, { trigger: 'ingest-event', result: 'rejected', reason: decoded.reason });
          this.#options.logger.warn(
            {
              topic: batch.topic,
              partition: batch.partition,
              offset: message.offset.toString(),
              reason: decoded.reason,
              detail: decoded.message,
            },
            'ingest event rejected',
          );
          return;
        }
        const jobs = await this.applyEvent(decoded.value);
        this.#events.add(1, { trigger: 'ingest-event', result: jobs === 0 ? 'ignored' : 'planned' });
      });
      last = message.offset;
      batch.resolveOffset(message.offset);
    }
    if (last !== undefined) {
      await consumer.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: last + 1n }]);
    }
  }

  async #process(job: Job): Promise<WarmJobOutcome> {
    const span = startBullmqConsumerSpan({
      queue: QUEUES.cacheWarm,
      job: { name: job.name, id: job.id, data: job.data as { traceContext?: undefined } },
    });
    return runInSpan(span, async () => {
      let requests: CacheRequest[];
      try {
        if (job.name === JOBS.warmSymbol) {
          requests = this.#requestsFor(parseJobPayload(QUEUES.cacheWarm, JOBS.warmSymbol, job.data));
        } else {
          parseJobPayload(QUEUES.cacheWarm, JOBS.warmAll, job.data);
          requests = await this.#everySlice();
        }
      } catch (error) {
        // A payload this version cannot read never becomes readable by retrying.
        if (
          error instanceof ZodError ||
          (error instanceof Error && 'retriable' in error && error.retriable === false)
        ) {
          throw new UnrecoverableError(`${job.name}: ${error.message}`);
        }
        throw error;
      }
      const warmed: WarmJobOutcome['warmed'] = [];
      for (const request of requests) {
        const { outcome } = await this.#options.cache.warm(request);
        this.#warms.add(1, { dataset: request.dataset, outcome });
        warmed.push({ request, outcome });
      }
      return { warmed };
    });
  }

  #requestsFor(job: WarmSymbolJob): CacheRequest[] {
    const dataset = DATASETS.find((name) => name === job.dataset);
    if (dataset === undefined || !this.#options.datasets.has(dataset)) {
      throw new UnrecoverableError(`warm-symbol: dataset ${job.dataset} is unknown or disabled`);
    }
    if (dataset === 'rollups' && job.timeframe === undefined) {
      return ROLLUP_TIMEFRAMES.map((timeframe) => ({ dataset, symbol: job.symbol, timeframe }));
    }
    return [{ dataset, symbol: job.symbol, timeframe: job.timeframe }];
  }

  /**
   * Every slice a full re-warm refreshes: the entries each dataset tracks in its LRU set (what
   * readers actually use), plus the (symbol, timeframe) pairs with bars in the discovery window,
   * at most `maxKeysPerDataset` each.
   */
  async #everySlice(): Promise<CacheRequest[]> {
    const { cache, pool, datasets, maxKeysPerDataset, discoveryDays } = this.#options;
    const byKey = new Map<string, CacheRequest>();
    const add = (request: CacheRequest): void => {
      byKey.set(`${request.dataset}|${request.symbol}|${request.timeframe ?? ''}`, request);
    };
    for (const dataset of datasets) {
      for (const entry of await cache.trackedEntries(dataset)) {
        const [symbol = '', timeframe] = entry.split(':');
        add({ dataset, symbol, timeframe: timeframe as Timeframe | undefined });
      }
    }
    const { rows } = await pool.query<{ symbol: string; timeframe: Timeframe }>(
      `SELECT DISTINCT symbol, timeframe FROM market_data.bars
       WHERE ts > now() - make_interval(days => $1) ORDER BY symbol, timeframe LIMIT $2`,
      [discoveryDays, maxKeysPerDataset],
    );
    for (const { symbol, timeframe } of rows) {
      if (datasets.has('latest-bar')) add({ dataset: 'latest-bar', symbol, timeframe });
      if (datasets.has('recent-bars')) add({ dataset: 'recent-bars', symbol, timeframe });
      if (timeframe === '1m' && datasets.has('rollups')) {
        for (const rollup of ROLLUP_TIMEFRAMES) add({ dataset: 'rollups', symbol, timeframe: rollup });
      }
    }
    if (datasets.has('macro-calendar')) add({ dataset: 'macro-calendar', symbol: 'ALL' });
    return [...byKey.values()];
  }
}

function aborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    signal.addEventListener(
      'abort',
      () => {
        resolve();
      },
      { once: true },
    );
  });
}
