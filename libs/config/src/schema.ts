import { DEFAULT_MIN_BAR_TIMESTAMP, isTimeframe, TIMEFRAMES } from '@backbone/contracts';
import { z } from 'zod';

/**
 * SystemConfig: the one schema every worker, the CLI and the tests read their settings from.
 *
 * Every object is `.strict()` so a typo is an error rather than a silently ignored key, and every
 * field carries a default (nested objects use `.prefault({})`, which runs the default through the
 * schema) so `systemConfigSchema.parse({})` is the complete built-in configuration.
 */

/**
 * Keys that were removed, with what to do instead. A config that still sets one is refused (every
 * object is strict) with this message rather than "check the spelling".
 */
export const REMOVED_KEYS: Readonly<Record<string, string>> = {
  'database.schemas':
    'removed: the migrations and every query use the fixed schemas market_data and backbone; delete this key',
};
/** Market symbols, checked after upper-casing (the bar contract uses the same rule). */
export const SYMBOL = /^[A-Z0-9_.=\-]{1,32}$/;
/** The bar contract's timeframes: a plan or retention key naming another would fail later. */
const TIMEFRAME_MESSAGE = `must be one of ${TIMEFRAMES.join(', ')} (the bar contract's timeframes)`;

/** The four Kafka topics of the architecture; their names are a published contract. */
export const TOPIC_NAMES = [
  'market.bars.v1',
  'market.bars.v1.dlq',
  'backbone.ingest-events.v1',
  'backbone.readiness.v1',
] as const;
export type TopicName = (typeof TOPIC_NAMES)[number];

/**
 * The name a topic has on the cluster: the deployment's `kafka.namespace` + the contract name.
 *
 * @example topicName(config.kafka, 'market.bars.v1') // 'market.bars.v1', or 'e2e_1a2b.market.bars.v1'
 */
export function topicName(kafka: { readonly namespace: string }, name: TopicName): string {
  return `${kafka.namespace}${name}`;
}

/**
 * The stream-bridge's consumer group (also its `group_id` in `backbone.consumer_offsets`):
 * `kafka.namespace` + `stream-bridge`, so two deployments on one cluster never share partitions.
 *
 * @example streamBridgeGroupId(config.kafka) // 'stream-bridge'
 */
export function streamBridgeGroupId(kafka: { readonly namespace: string }): string {
  return `${kafka.namespace}stream-bridge`;
}

/**
 * ioredis's `tls` option for the configured Redis: TLS when `redis.tls.enabled` or the URL is
 * `rediss://`, with the configured certificate check; nothing otherwise.
 *
 * @example new Redis(config.redis.url, { ...redisTlsOptions(config.redis), maxRetriesPerRequest: 2 })
 */
export function redisTlsOptions(redis: {
  readonly url: string;
  readonly tls: { readonly enabled: boolean; readonly rejectUnauthorized: boolean };
}): { tls?: { rejectUnauthorized: boolean } } {
  return redis.tls.enabled || redis.url.startsWith('rediss:')
    ? { tls: { rejectUnauthorized: redis.tls.rejectUnauthorized } }
    : {};
}

/** The four worker roles, each its own process. */
export const WORKER_NAMES = [
  'timescaleIngestor',
  'streamBridge',
  'cacheWarmer',
  'readinessReporter',
] as const;
export type WorkerName = (typeof WORKER_NAMES)[number];

export const PROVIDER_NAMES = ['csv', 'yahoo', 'fred'] as const;
export type ProviderName = (typeof PROVIDER_NAMES)[number];

const port = z.number().int().min(1).max(65_535);
const positiveInt = z.number().int().positive();
const nonNegativeInt = z.number().int().nonnegative();
const ratio = z.number().min(0).max(1);

/** TLS settings shared by PostgreSQL, Redis and Kafka connections. */
const tlsSchema = z
  .object({
    /** Connect over TLS. */
    enabled: z.boolean().default(false).describe('Connect over TLS.'),
    /** Verify the server certificate; `false` is refused unless development.allowInsecureTls. */
    rejectUnauthorized: z
      .boolean()
      .default(true)
      .describe('Verify the server certificate; false needs development.allowInsecureTls.'),
    /** Path to a PEM file with the CA that signed the server certificate (default: system CAs). */
    ca: z.string().min(1).optional().describe('Path to a PEM CA bundle.'),
  })
  .strict();

const databaseSchema = z
  .object({
    /** libpq connection URL; the password, if any, is redacted everywhere it is printed. */
    url: z
      .url({ protocol: /^postgres(ql)?$/ })
      .default('postgres://postgres@127.0.0.1:5433/backbone')
      .describe('PostgreSQL connection URL.'),
    /** Connections per process in the pg pool. */
    poolSize: positiveInt.max(200).default(10).describe('Connections per process.'),
    /** `statement_timeout` set on every connection, so a stuck query cannot hold a worker forever. */
    statementTimeoutMs: positiveInt.default(30_000).describe('statement_timeout per connection (ms).'),
    /** TLS to the database. */
    ssl: tlsSchema.prefault({}),
    /** The PostgreSQL HA cluster (`./backbone stack up --ha`, docs/stack.md); empty: no HA. */
    ha: z
      .object({
        /**
         * Patroni REST API URL of each node (`http://127.0.0.1:8008`, `http://127.0.0.1:8009` for
         * the stack's cluster). When set, readiness runs `timescaledb.replication`.
         */
        patroniUrls: z
          .array(z.url({ protocol: /^https?$/ }))
          .default([])
          .describe('Patroni REST API URLs of the HA nodes.'),
      })
      .strict()
      .prefault({}),
  })
  .strict();

const cacheSchema = z
  .object({
    /** Time to live of every cached slice; SET with EX in one command, never SET then EXPIRE. */
    ttlSeconds: positiveInt.default(900).describe('TTL of cached slices (s).'),
    /** Upper bound of keys per dataset; the warmer evicts the least recently warmed beyond it. */
    maxKeysPerDataset: positiveInt.default(1024).describe('Maximum keys per dataset.'),
    /** How long past its TTL a slice may still be served while a refresh is in flight. */
    staleGraceSeconds: nonNegativeInt.default(60).describe('Stale-while-revalidate grace (s).'),
    /** The hot datasets the warmer keeps and the read-through client serves. */
    datasets: z
      .object({
        /** The most recent bar per symbol and timeframe. */
        latestBar: z
          .object({
            /** Keep this dataset warm. */
            enabled: z.boolean().default(true),
          })
          .strict()
          .prefault({}),
        /** The last N bars per symbol and timeframe. */
        recentBars: z
          .object({
            /** Keep this dataset warm. */
            enabled: z.boolean().default(true),
            /** Number of bars in the slice. */
            count: positiveInt.max(100_000).default(500),
          })
          .strict()
          .prefault({}),
        /** Daily roll-ups (OHLCV per day) over a trailing window. */
        rollups: z
          .object({
            /** Keep this dataset warm. */
            enabled: z.boolean().default(true),
            /** Trailing window in days. */
            days: positiveInt.max(3650).default(30),
          })
          .strict()
          .prefault({}),
        /** Upcoming and recent macro events. */
        macroCalendar: z
          .object({
            /** Keep this dataset warm. */
            enabled: z.boolean().default(true),
            /** Window in days around now. */
            days: positiveInt.max(366).default(7),
          })
          .strict()
          .prefault({}),
      })
      .strict()
      .prefault({}),
  })
  .strict();

const redisSchema = z
  .object({
    /** Redis URL (`redis://` or `rediss://`); a password in it is redacted when printed. */
    url: z
      .url({ protocol: /^rediss?$/ })
      .default('redis://127.0.0.1:6379')
      .describe('Redis connection URL.'),
    /** TLS to Redis (a `rediss://` URL also turns it on). */
    tls: tlsSchema.prefault({}),
    /** Prefix of every key this system writes (cache, BullMQ, heartbeats), so tenants can share a Redis. */
    keyNamespace: z
      .string()
      .regex(/^[A-Za-z0-9_.:-]{1,64}$/, 'must be 1-64 characters of A-Z a-z 0-9 _ . : -')
      .default('backbone:')
      .describe('Prefix of every Redis key.'),
    /** Hot cache policy. */
    cache: cacheSchema.prefault({}),
  })
  .strict();

const saslSchema = z.discriminatedUnion('mechanism', [
  z
    .object({
      /** SASL/PLAIN: only sensible over TLS. */
      mechanism: z.literal('plain'),
      /** SASL user name. */
      username: z.string().min(1),
      /** SASL password (redacted when printed). */
      password: z.string().min(1),
    })
    .strict(),
  z
    .object({
      /** SCRAM with SHA-256. */
      mechanism: z.literal('scram-sha-256'),
      /** SASL user name. */
      username: z.string().min(1),
      /** SASL password (redacted when printed). */
      password: z.string().min(1),
    })
    .strict(),
  z
    .object({
      /** SCRAM with SHA-512. */
      mechanism: z.literal('scram-sha-512'),
      /** SASL user name. */
      username: z.string().min(1),
      /** SASL password (redacted when printed). */
      password: z.string().min(1),
    })
    .strict(),
]);

/** Topic-level configs passed to CreateTopics / AlterConfigs; Kafka takes them as strings. */
const topicConfigsSchema = z
  .object({
    /** How long records are kept (ms, `-1` forever). */
    'retention.ms': z
      .string()
      .regex(/^-?\d+$/, 'must be an integer string')
      .optional(),
    /** `delete`, `compact` or `compact,delete`. */
    'cleanup.policy': z.enum(['delete', 'compact', 'compact,delete', 'delete,compact']).optional(),
    /** Largest record batch the broker accepts for this topic. */
    'max.message.bytes': z.string().regex(/^\d+$/, 'must be an integer string').optional(),
    /** Replicas that must acknowledge an acks=all write. */
    'min.insync.replicas': z.string().regex(/^\d+$/, 'must be an integer string').optional(),
  })
  .strict();

function topicSchema(defaults: {
  partitions: number;
  retentionMs: string;
  cleanupPolicy: 'delete' | 'compact';
}) {
  return z
    .object({
      /** Partition count; only ever increased by `topics ensure`, since shrinking is impossible. */
      partitions: positiveInt.max(10_000).default(defaults.partitions),
      /** Replication factor; 1 on a single local broker, 3 in production. */
      replicationFactor: positiveInt.max(16).default(1),
      /** Topic configs. */
      configs: topicConfigsSchema.prefault({
        'retention.ms': defaults.retentionMs,
        'cleanup.policy': defaults.cleanupPolicy,
      }),
    })
    .strict()
    .prefault({});
}

const DAY_MS = 86_400_000;

const kafkaSchema = z
  .object({
    /** Bootstrap brokers as host:port (env `KAFKA_BROKERS` takes a comma-separated list). */
    brokers: z
      .array(z.string().regex(/^[^\s:/]+:\d{1,5}$/, 'must be host:port'))
      .min(1)
      .default(['127.0.0.1:9092'])
      .describe('Bootstrap brokers, host:port.'),
    /** Client id prefix; each worker appends its role. */
    clientId: z.string().min(1).max(200).default('backbone').describe('Kafka client id prefix.'),
    /**
     * Prefix of every topic name and of the stream-bridge's consumer group, so several
     * deployments (or test runs) share one cluster without reading each other's records. Empty by
     * default: the architecture's names (`market.bars.v1`, …).
     */
    namespace: z
      .string()
      .regex(/^[A-Za-z0-9_.-]{0,64}$/, 'must be 0-64 characters of A-Z a-z 0-9 _ . -')
      .default('')
      .describe('Prefix of every topic and of the stream-bridge consumer group.'),
    /** SASL authentication; absent means none. */
    sasl: saslSchema.optional(),
    /** TLS to the brokers. */
    ssl: tlsSchema.prefault({}),
    /** Largest record the producers send; a bigger one is rejected before it reaches the broker. */
    maxMessageBytes: positiveInt.default(1_048_576).describe('Largest record produced (bytes).'),
    /** Consumer batch limits: one batch is one database transaction in the stream-bridge. */
    consumer: z
      .object({
        /** Records per batch at most. */
        maxBatchRecords: positiveInt.max(1_000_000).default(5000),
        /** Bytes fetched per partition per request at most. */
        maxBatchBytes: positiveInt.default(4_194_304),
        /**
         * A stored offset no longer in its partition's log (topic deleted and recreated or
         * truncated, retention passed it): `fail` records the gap and holds the partition until
         * `./backbone offsets resolve`; `earliest` / `latest` record it and read on from the log
         * start / end. Never silently skipped. See docs/kafka.md.
         */
        offsetOutOfRange: z.enum(['fail', 'earliest', 'latest']).default('fail'),
      })
      .strict()
      .prefault({}),
    /** The fixed topics and how `topics ensure` provisions them. */
    topics: z
      .object({
        /** Market bars from providers and external feeds; key = symbol. */
        'market.bars.v1': topicSchema({
          partitions: 6,
          retentionMs: String(7 * DAY_MS),
          cleanupPolicy: 'delete',
        }),
        /** Records that failed validation, with the reason. */
        'market.bars.v1.dlq': topicSchema({
          partitions: 1,
          retentionMs: String(30 * DAY_MS),
          cleanupPolicy: 'delete',
        }),
        /** One event per committed ingest run (from the outbox). */
        'backbone.ingest-events.v1': topicSchema({
          partitions: 3,
          retentionMs: String(7 * DAY_MS),
          cleanupPolicy: 'delete',
        }),
        /** Readiness snapshots. */
        'backbone.readiness.v1': topicSchema({
          partitions: 1,
          retentionMs: String(7 * DAY_MS),
          cleanupPolicy: 'delete',
        }),
      })
      .strict()
      .prefault({}),
  })
  .strict();

/** Settings shared by the HTTP providers. */
function httpProviderSchema(defaults: { baseUrl: string; requestsPerSecond: number }) {
  return {
    /** API base URL; tests point it at a local replay server. */
    baseUrl: z.url({ protocol: /^https?$/ }).default(defaults.baseUrl),
    /** Timeout of one HTTP request. */
    timeoutMs: positiveInt.max(600_000).default(10_000),
    /** Retries of a retriable failure (5xx, 429, network) with backoff. */
    maxRetries: nonNegativeInt.max(20).default(3),
    /** Client-side rate limit. */
    requestsPerSecond: z.number().positive().max(1000).default(defaults.requestsPerSecond),
  };
}

const planSchema = z
  .object({
    /** Unique plan name; also the BullMQ job scheduler id. */
    name: z.string().regex(/^[a-z0-9][a-z0-9_.-]{0,63}$/, 'must be 1-64 characters of a-z 0-9 _ . -'),
    /** Provider that serves this plan. */
    provider: z.enum(PROVIDER_NAMES),
    /** Bar provider tried when a yahoo plan's provider fails with a permanent or exhausted error. */
    fallbackProvider: z.enum(PROVIDER_NAMES).optional(),
    /**
     * Further bar providers asked for every request and merged with the plan's provider by
     * priority (the plan's provider first, then this list in order): each bar comes from the most
     * trusted source that has it. Yahoo plans only; not with fallbackProvider (a source that fails
     * is left out of the merge, so the rest already serve as the fallback).
     */
    mergeWith: z.array(z.enum(PROVIDER_NAMES)).min(1).optional(),
    /**
     * Close difference between merged sources, in percent of the chosen close, counted as drift
     * in the run's quality report. Only with mergeWith; 0.5 when unset.
     */
    driftThresholdPct: z.number().positive().max(100).optional(),
    /** Symbols (upper-cased before checking); FRED plans list release or series ids. */
    symbols: z
      .array(
        z
          .string()
          .transform((symbol) => symbol.toUpperCase())
          .pipe(z.string().regex(SYMBOL, 'must match ^[A-Z0-9_.=\\-]{1,32}$ after upper-casing')),
      )
      .min(1),
    /** Bar timeframes to fetch. */
    timeframes: z
      .array(z.enum(TIMEFRAMES, { error: TIMEFRAME_MESSAGE }))
      .min(1)
      .default(['1d']),
    /** How far back each run (re)fetches, so late corrections are merged. */
    lookbackDays: positiveInt.max(36_500).default(60),
    /** Repeat schedule. */
    schedule: z
      .object({
        /** Seconds between runs (at least 60). */
        intervalSeconds: z.number().int().min(60).default(3600),
        /** Random delay added to each run, so plans do not all fire at once. */
        jitterSeconds: nonNegativeInt.default(120),
        /** Consecutive failed runs after which the plan is paused and readiness fails. */
        maxConsecutiveFailures: positiveInt.default(3),
      })
      .strict()
      .prefault({}),
  })
  .strict();

const ingestSchema = z
  .object({
    /** Data providers. */
    providers: z
      .object({
        /** CSV files in the shipped fixture format. */
        csv: z
          .object({
            /** Directory holding the CSV files (relative paths are relative to the working directory). */
            directory: z.string().min(1).default('fixtures/bars'),
          })
          .strict()
          .prefault({}),
        /** Yahoo chart API. */
        yahoo: z
          .object(httpProviderSchema({ baseUrl: 'https://query1.finance.yahoo.com', requestsPerSecond: 2 }))
          .strict()
          .prefault({}),
        /** FRED release calendar (`fred/releases/dates`). */
        fred: z
          .object({
            ...httpProviderSchema({ baseUrl: 'https://api.stlouisfed.org', requestsPerSecond: 2 }),
            /** FRED API key (redacted when printed); required only by plans using fred. */
            apiKey: z.string().min(1).optional(),
          })
          .strict()
          .prefault({}),
      })
      .strict()
      .prefault({}),
    /** Scheduled ingest plans. */
    plans: z.array(planSchema).default([]),
    /** Ingest jobs a timescale-ingestor process runs at once. */
    concurrency: positiveInt.max(64).default(2),
    /** Bars stamped further than this in the future are rejected. */
    maxFutureSkewSeconds: nonNegativeInt.default(300),
    /**
     * Bars stamped before this instant are rejected as `ts_out_of_range` by every receiver (stream
     * bridge and ingestor): the database cannot store year 0, and in plain-PostgreSQL mode an
     * ancient bar would create a partition far from every other.
     */
    minBarTimestamp: z.iso
      .datetime({ offset: true, error: 'must be an ISO-8601 date-time with a zone (Z or ±hh:mm)' })
      .refine((text) => Date.parse(text) >= Date.parse('1000-01-01T00:00:00Z'), {
        error: 'must not be before 1000-01-01 (PostgreSQL has no year 0)',
      })
      .default(DEFAULT_MIN_BAR_TIMESTAMP),
    /** Rows per COPY batch. */
    batchRows: positiveInt.max(1_000_000).default(5000),
  })
  .strict();

const storageSchema = z
  .object({
    /** How long rows are kept (days); enforced by the database (retention policies or partition drops). */
    retentionDays: z
      .object({
        /**
         * Bars per timeframe. The listed timeframes have defaults (so setting one keeps the
         * others); further timeframes may be added, and timeframes without an entry are kept forever.
         */
        bars: z
          .object({
            '1m': positiveInt.default(30),
            '5m': positiveInt.default(90),
            '15m': positiveInt.default(180),
            '1h': positiveInt.default(730),
            '1d': positiveInt.default(36_500),
          })
          .catchall(positiveInt)
          .superRefine((bars, ctx) => {
            for (const timeframe of Object.keys(bars)) {
              if (!isTimeframe(timeframe)) {
                ctx.addIssue({ code: 'custom', path: [timeframe], message: TIMEFRAME_MESSAGE });
              }
            }
          })
          .prefault({}),
        /** Ticks. */
        ticks: positiveInt.default(7),
        /** Macro events. */
        macroEvents: positiveInt.default(3650),
      })
      .strict()
      .prefault({}),
    /** Chunk (or partition) width per table, in days. */
    chunkIntervalDays: z
      .object({
        /** Bars. */
        bars: positiveInt.default(7),
        /** Ticks. */
        ticks: positiveInt.default(1),
        /** Macro events. */
        macroEvents: positiveInt.default(90),
      })
      .strict()
      .prefault({}),
    /** Chunks older than this are compressed (TimescaleDB only). */
    compressAfterDays: positiveInt.default(7),
    /** Future partitions kept created ahead of time (plain PostgreSQL partitioning only). */
    partitionsAhead: positiveInt.max(365).default(4),
    /** Seconds between two storage maintenance passes of the ingestor (rollups, system tables; on plain PostgreSQL also retention and partitions). */
    maintenanceIntervalSeconds: positiveInt.min(10).default(60),
    /** Hours of recent 1m bars whose 1h/1d rollups each maintenance pass recomputes. */
    rollupRecentWindowHours: positiveInt.max(24 * 31).default(48),
    /** How long the maintenance pass keeps rows of the system tables (days). */
    systemRetention: z
      .object({
        /** Outbox events published to Kafka (by publish time). */
        outboxSentDays: positiveInt.default(7),
        /** Outbox events Kafka refused for good (by the time they were set aside). */
        outboxDeadDays: positiveInt.default(30),
        /** Readiness report snapshots (one per probe round). */
        readinessSnapshotsDays: positiveInt.default(7),
        /** Finished ingest runs (by finish time); running ones are always kept. */
        ingestRunsDays: positiveInt.default(90),
        /**
         * Rejected input: rows an ingest rejected (`rejected_rows`) and whole Kafka records kept
         * beside a truncated dead letter (`rejected_records`).
         */
        rejectedRowsDays: positiveInt.default(90),
        /** Resolved offset gaps, kept as the record of who chose what; open ones are always kept. */
        resolvedOffsetGapsDays: positiveInt.default(90),
        /** Rows per DELETE: each batch commits on its own, so no lock is held for long. */
        pruneBatchRows: positiveInt.max(1_000_000).default(5000),
      })
      .strict()
      .prefault({}),
  })
  .strict();

const readinessSchema = z
  .object({
    /** Data older than this is stale, per dimension. */
    freshnessSlaSeconds: z
      .object({
        /** Daily bars. */
        daily: positiveInt.default(86_400),
        /** Intraday bars. */
        intraday: positiveInt.default(900),
        /** Macro events. */
        macro: positiveInt.default(604_800),
      })
      .strict()
      .prefault({}),
    /** Consumer lag thresholds (messages). */
    lag: z
      .object({
        /** Lag at or above this is a warning. */
        warn: nonNegativeInt.default(10_000),
        /** Lag at or above this fails readiness. */
        fail: nonNegativeInt.default(100_000),
      })
      .strict()
      .prefault({}),
    /** Cache hit-ratio thresholds (0..1): below warn is a warning, below fail fails. */
    hitRatio: z
      .object({
        /** Hit ratio below this is a warning. */
        warn: ratio.default(0.8),
        /** Hit ratio below this fails readiness. */
        fail: ratio.default(0.5),
      })
      .strict()
      .prefault({}),
    /** Age thresholds of the oldest outbox event still to be sent (dead events do not count), seconds. */
    outboxAgeSeconds: z
      .object({
        /** Age at or above this is a warning. */
        warn: positiveInt.default(60),
        /** Age at or above this fails readiness. */
        fail: positiveInt.default(600),
      })
      .strict()
      .prefault({}),
    /** Seconds between probe rounds. */
    probeIntervalSeconds: positiveInt.default(15),
    /** Timeout of one probe. */
    probeTimeoutMs: positiveInt.default(2000),
    /** The stream-bridge's /readyz fails once its sink's writes have failed this long without a success. */
    sinkFailingSeconds: positiveInt.default(60),
    /** Workers whose heartbeat must be present. */
    expectedWorkers: z.array(z.enum(WORKER_NAMES)).default([...WORKER_NAMES]),
    /** Components whose failure fails readiness. */
    requiredComponents: z
      .array(z.string().regex(/^[a-z][a-z0-9-]{0,63}$/))
      .default(['timescaledb', 'redis', 'kafka', 'bullmq', 'workers']),
    /** Components whose failure only warns. */
    optionalComponents: z
      .array(z.string().regex(/^[a-z][a-z0-9-]{0,63}$/))
      .default(['ingest-freshness', 'cache', 'retention']),
    // --- stall rules (issue 14 §3, §4) ---
    /**
     * A partition with lag whose stored offset has not moved, and whose oldest unapplied record
     * has waited, this long is stalled: readiness and the stream-bridge's /readyz fail.
     */
    stalledPartitionSeconds: positiveInt.default(300),
    /** Dead-letter volume: records appended to the DLQ topic within the window (warn). */
    deadLetters: z
      .object({
        /** The window counted back from each probe, seconds. */
        windowSeconds: positiveInt.default(3600),
        /** This many dead letters or more within the window warn. */
        warnCount: positiveInt.default(1),
      })
      .strict()
      .prefault({}),
    /** A BullMQ job scheduler whose next run is overdue by more than this has missed it: fail. */
    missedScheduleGraceSeconds: positiveInt.default(300),
    /**
     * The HA cluster's standby (database.ha): this far behind the primary warns. A standby down
     * warns too; no writable primary fails.
     */
    replicationLag: z
      .object({
        /** WAL bytes the standby has not replayed yet (primary's current LSN − replay_lsn). */
        warnBytes: positiveInt.default(16 * 1024 * 1024),
        /** pg_stat_replication.replay_lag, seconds. */
        warnSeconds: positiveInt.default(10),
      })
      .strict()
      .prefault({}),
    /** Redis used_memory / maxmemory (0..1): at or above warn warns, at or above fail fails. */
    redisMemoryRatio: z
      .object({
        /** Share of maxmemory in use that warns. */
        warn: ratio.default(0.8),
        /** Share of maxmemory in use that fails readiness. */
        fail: ratio.default(0.95),
      })
      .strict()
      .prefault({}),
  })
  .strict();

const telemetrySchema = z
  .object({
    /** OTLP/HTTP endpoint for traces and metrics; absent means no export. */
    otlpEndpoint: z.url({ protocol: /^https?$/ }).optional(),
    /** Overrides `service.name` (default: the worker role, e.g. backbone-stream-bridge). */
    serviceName: z.string().min(1).max(128).optional(),
    /** pino log level. */
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    /** Write finished spans as JSON lines to this file (end-to-end tests across processes). */
    spanFileExporterPath: z.string().min(1).optional(),
  })
  .strict();

function workerSchema(defaults: { port: number; concurrency?: number }) {
  return z
    .object({
      /** Interface the HTTP server (`/livez`, `/readyz`, `/metrics`) binds to; 0.0.0.0 in containers. */
      host: z.string().min(1).default('127.0.0.1'),
      /** HTTP port. */
      port: port.default(defaults.port),
      /** Jobs or partitions processed at once. */
      concurrency: positiveInt.max(256).default(defaults.concurrency ?? 1),
      /** How long a graceful stop may take before the child is reported orphaned. */
      shutdownDeadlineMs: positiveInt.max(600_000).default(10_000),
    })
    .strict()
    .prefault({});
}

const workersSchema = z
  .object({
    /** Runs ingest jobs: providers → TimescaleDB + outbox. */
    timescaleIngestor: workerSchema({ port: 8081, concurrency: 2 }),
    /** Kafka market.bars.v1 → TimescaleDB; outbox relay. */
    streamBridge: workerSchema({ port: 8082 }),
    /** Ingest events → Redis hot slices. */
    cacheWarmer: workerSchema({ port: 8083, concurrency: 4 }),
    /** Live probes, readiness HTTP and dashboard. */
    readinessReporter: workerSchema({ port: 8080 }),
  })
  .strict();

const supervisorSchema = z
  .object({
    /** Restarts allowed within `restartPeriodMs` before the supervisor escalates. */
    maxRestarts: nonNegativeInt.default(5),
    /** Window of the restart intensity. */
    restartPeriodMs: positiveInt.default(60_000),
    /** First backoff between restarts (doubles each time, with jitter). */
    backoffInitialMs: positiveInt.default(200),
    /** Largest backoff between restarts. */
    backoffMaxMs: positiveInt.default(30_000),
    /** How often a worker publishes its heartbeat. */
    heartbeatIntervalMs: positiveInt.default(5000),
    /** Heartbeat key TTL; a worker silent this long is considered gone. */
    heartbeatTtlSeconds: positiveInt.default(15),
  })
  .strict();

const developmentSchema = z
  .object({
    /** Allows `rejectUnauthorized: false`. Never in production. */
    allowInsecureTls: z.boolean().default(false),
  })
  .strict();

const systemConfigObject = z
  .object({
    /** PostgreSQL / TimescaleDB. */
    database: databaseSchema.prefault({}),
    /** Redis: BullMQ, hot cache, heartbeats. */
    redis: redisSchema.prefault({}),
    /** Kafka brokers and topics. */
    kafka: kafkaSchema.prefault({}),
    /** Providers and scheduled plans. */
    ingest: ingestSchema.prefault({}),
    /** Retention, chunking, compression. */
    storage: storageSchema.prefault({}),
    /** Readiness thresholds and probes. */
    readiness: readinessSchema.prefault({}),
    /** Traces, metrics, logs. */
    telemetry: telemetrySchema.prefault({}),
    /** One section per worker process role. */
    workers: workersSchema.prefault({}),
    /** Restart intensity, backoff and heartbeats of every worker's supervisor. */
    supervisor: supervisorSchema.prefault({}),
    /** Development-only relaxations. */
    development: developmentSchema.prefault({}),
  })
  .strict();

/** Reads a nested value of a config that may have failed validation elsewhere. */
function valueAt(config: unknown, path: readonly string[]): unknown {
  let node = config;
  for (const key of path) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<string, unknown>)[key];
  }
  return node;
}

const TLS_SECTIONS = [
  ['database', 'ssl'],
  ['redis', 'tls'],
  ['kafka', 'ssl'],
] as const;

/** The complete schema, with the cross-field checks a single field cannot express. */
export const systemConfigSchema = systemConfigObject
  // Runs even when other keys are invalid (`when`), so an insecure TLS flag is reported together
  // with every other problem instead of surfacing only after they are fixed.
  .superRefine(
    (config, ctx) => {
      if (valueAt(config, ['development', 'allowInsecureTls']) === true) return;
      for (const [section, key] of TLS_SECTIONS) {
        if (valueAt(config, [section, key, 'rejectUnauthorized']) === false) {
          ctx.addIssue({
            code: 'custom',
            path: [section, key, 'rejectUnauthorized'],
            message:
              'false disables certificate verification; only allowed with development.allowInsecureTls: true',
          });
        }
      }
    },
    { when: () => true },
  )
  .superRefine((config, ctx) => {
    if (config.readiness.lag.warn > config.readiness.lag.fail) {
      ctx.addIssue({
        code: 'custom',
        path: ['readiness', 'lag', 'warn'],
        message: 'must not exceed readiness.lag.fail',
      });
    }
    if (config.readiness.outboxAgeSeconds.warn > config.readiness.outboxAgeSeconds.fail) {
      ctx.addIssue({
        code: 'custom',
        path: ['readiness', 'outboxAgeSeconds', 'warn'],
        message: 'must not exceed readiness.outboxAgeSeconds.fail',
      });
    }
    if (config.readiness.redisMemoryRatio.warn > config.readiness.redisMemoryRatio.fail) {
      ctx.addIssue({
        code: 'custom',
        path: ['readiness', 'redisMemoryRatio', 'warn'],
        message: 'must not exceed readiness.redisMemoryRatio.fail',
      });
    }
    config.database.ha.patroniUrls.forEach((url, index) => {
      if (config.database.ha.patroniUrls.indexOf(url) !== index) {
        ctx.addIssue({
          code: 'custom',
          path: ['database', 'ha', 'patroniUrls', index],
          message: `${url} is listed twice; give each HA node's Patroni REST API once`,
        });
      }
    });
    if (config.readiness.hitRatio.warn < config.readiness.hitRatio.fail) {
      ctx.addIssue({
        code: 'custom',
        path: ['readiness', 'hitRatio', 'warn'],
        message: 'must not be below readiness.hitRatio.fail',
      });
    }
    for (const component of config.readiness.requiredComponents) {
      const index = config.readiness.optionalComponents.indexOf(component);
      if (index >= 0) {
        ctx.addIssue({
          code: 'custom',
          path: ['readiness', 'optionalComponents', index],
          message: `"${component}" is also listed in readiness.requiredComponents`,
        });
      }
    }
    if (config.supervisor.backoffInitialMs > config.supervisor.backoffMaxMs) {
      ctx.addIssue({
        code: 'custom',
        path: ['supervisor', 'backoffInitialMs'],
        message: 'must not exceed supervisor.backoffMaxMs',
      });
    }
    const seenPlans = new Set<string>();
    config.ingest.plans.forEach((plan, index) => {
      if (seenPlans.has(plan.name)) {
        ctx.addIssue({
          code: 'custom',
          path: ['ingest', 'plans', index, 'name'],
          message: `duplicate plan name "${plan.name}"`,
        });
      }
      seenPlans.add(plan.name);
      if (plan.fallbackProvider === plan.provider) {
        ctx.addIssue({
          code: 'custom',
          path: ['ingest', 'plans', index, 'fallbackProvider'],
          message: 'must differ from provider (a fallback to the same provider is no fallback)',
        });
      } else if (plan.fallbackProvider === 'fred') {
        ctx.addIssue({
          code: 'custom',
          path: ['ingest', 'plans', index, 'fallbackProvider'],
          message: 'fred serves macro events, not bars: it cannot stand in for a bar provider',
        });
      } else if (plan.fallbackProvider !== undefined && plan.provider !== 'yahoo') {
        ctx.addIssue({
          code: 'custom',
          path: ['ingest', 'plans', index, 'fallbackProvider'],
          message:
            plan.provider === 'fred'
              ? 'no other provider serves macro events: a fred plan has no fallback'
              : 'a csv plan reads its own files; a fallback is for yahoo plans (fallbackProvider: csv)',
        });
      }
      plan.mergeWith?.forEach((source, at) => {
        const path = ['ingest', 'plans', index, 'mergeWith', at];
        if (source === plan.provider) {
          ctx.addIssue({
            code: 'custom',
            path,
            message: `must not list the plan's own provider (${source})`,
          });
        } else if (source === 'fred') {
          ctx.addIssue({
            code: 'custom',
            path,
            message: 'fred serves macro events, not bars: it cannot be merged',
          });
        } else if (plan.mergeWith?.indexOf(source) !== at) {
          ctx.addIssue({ code: 'custom', path, message: `"${source}" is listed twice` });
        }
      });
      if (plan.mergeWith !== undefined && plan.provider !== 'yahoo') {
        ctx.addIssue({
          code: 'custom',
          path: ['ingest', 'plans', index, 'mergeWith'],
          message:
            plan.provider === 'fred'
              ? 'fred serves macro events, not bars: there is nothing to merge'
              : 'a csv plan ingests its files whole; merge on a yahoo plan (mergeWith: [csv])',
        });
      }
      if (plan.driftThresholdPct !== undefined && plan.mergeWith === undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['ingest', 'plans', index, 'driftThresholdPct'],
          message: 'is only used with mergeWith',
        });
      }
      if (plan.mergeWith !== undefined && plan.fallbackProvider !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['ingest', 'plans', index, 'fallbackProvider'],
          message:
            'not with mergeWith: a merge goes on with the sources that answer, so list the fallback in mergeWith instead',
        });
      }
    });
    const ports = new Map<number, string>();
    for (const name of WORKER_NAMES) {
      const other = ports.get(config.workers[name].port);
      if (other !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['workers', name, 'port'],
          message: `port ${config.workers[name].port} is already used by workers.${other}`,
        });
      }
      ports.set(config.workers[name].port, name);
    }
  });

/** The validated, fully defaulted system configuration. */
export type SystemConfig = z.infer<typeof systemConfigSchema>;
/** What a configuration source may contain before validation (every field optional). */
export type SystemConfigInput = z.input<typeof systemConfigSchema>;
