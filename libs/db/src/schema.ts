import {
  bigint,
  bigserial,
  customType,
  doublePrecision,
  integer,
  interval,
  jsonb,
  pgSchema,
  primaryKey,
  text,
  timestamp,
} from 'drizzle-orm/pg-core';

/**
 * The tables as drizzle-orm sees them, for typed queries. The SQL files in `migrations/` are the
 * source of truth for the DDL (partitioning and TimescaleDB features are beyond drizzle-kit);
 * a test checks that every column here exists there with the same type.
 */
export const marketData = pgSchema('market_data');
export const backbone = pgSchema('backbone');

const tstz = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' });

// Prices are double precision: providers and the wire contract carry IEEE doubles, float8
// round-trips them exactly (so "unchanged" compares exactly), and TimescaleDB compresses floats
// far better than numeric. See docs/database.md.
export const bars = marketData.table(
  'bars',
  {
    symbol: text('symbol').notNull(),
    timeframe: text('timeframe').notNull(),
    ts: tstz('ts').notNull(),
    open: doublePrecision('open').notNull(),
    high: doublePrecision('high').notNull(),
    low: doublePrecision('low').notNull(),
    close: doublePrecision('close').notNull(),
    volume: doublePrecision('volume').notNull(),
    source: text('source').notNull(),
    ingestedAt: tstz('ingested_at').notNull().defaultNow(),
    ingestRunId: text('ingest_run_id'),
    /** 0 when first written, +1 on every rewrite with different values. */
    revision: integer('revision').notNull().default(0),
  },
  (t) => [primaryKey({ columns: [t.symbol, t.timeframe, t.ts] })],
);

export const ticks = marketData.table(
  'ticks',
  {
    symbol: text('symbol').notNull(),
    ts: tstz('ts').notNull(),
    sequence: bigint('sequence', { mode: 'number' }).notNull(),
    price: doublePrecision('price').notNull(),
    size: doublePrecision('size').notNull(),
    venue: text('venue'),
    tradeId: text('trade_id'),
    side: text('side', { enum: ['buy', 'sell'] }),
    source: text('source').notNull(),
    ingestedAt: tstz('ingested_at').notNull().defaultNow(),
    ingestRunId: text('ingest_run_id'),
  },
  (t) => [primaryKey({ columns: [t.symbol, t.ts, t.sequence] })],
);

export const macroEvents = marketData.table(
  'macro_events',
  {
    source: text('source').notNull(),
    eventId: text('event_id').notNull(),
    ts: tstz('ts').notNull(),
    name: text('name').notNull(),
    calendar: text('calendar'),
    currency: text('currency'),
    actual: doublePrecision('actual'),
    forecast: doublePrecision('forecast'),
    previous: doublePrecision('previous'),
    importance: text('importance', { enum: ['low', 'medium', 'high'] }),
    revision: integer('revision').notNull().default(0),
    ingestedAt: tstz('ingested_at').notNull().defaultNow(),
    ingestRunId: text('ingest_run_id'),
  },
  (t) => [primaryKey({ columns: [t.source, t.eventId, t.ts] })],
);

/** 1h and 1d rollups of 1m bars: continuous aggregates (TimescaleDB) or tables (plain). */
const rollupColumns = () => ({
  symbol: text('symbol').notNull(),
  ts: tstz('ts').notNull(),
  open: doublePrecision('open').notNull(),
  high: doublePrecision('high').notNull(),
  low: doublePrecision('low').notNull(),
  close: doublePrecision('close').notNull(),
  volume: doublePrecision('volume').notNull(),
  barCount: bigint('bar_count', { mode: 'number' }).notNull(),
});
export const bars1h = marketData.table('bars_1h', rollupColumns());
export const bars1d = marketData.table('bars_1d', rollupColumns());

export const ingestRuns = backbone.table('ingest_runs', {
  runId: text('run_id').primaryKey(),
  dimension: text('dimension').notNull(),
  source: text('source').notNull(),
  plan: text('plan'),
  status: text('status', { enum: ['running', 'succeeded', 'partial', 'failed'] }).notNull(),
  symbols: text('symbols').array().notNull().default([]),
  windowStart: tstz('window_start'),
  windowEnd: tstz('window_end'),
  inserted: bigint('inserted', { mode: 'number' }).notNull().default(0),
  updated: bigint('updated', { mode: 'number' }).notNull().default(0),
  unchanged: bigint('unchanged', { mode: 'number' }).notNull().default(0),
  rejected: bigint('rejected', { mode: 'number' }).notNull().default(0),
  freshnessSeconds: doublePrecision('freshness_seconds'),
  quality: jsonb('quality'),
  startedAt: tstz('started_at').notNull().defaultNow(),
  finishedAt: tstz('finished_at'),
  error: text('error'),
});

export const outbox = backbone.table('outbox', {
  id: bigserial('id', { mode: 'bigint' }).primaryKey(),
  topic: text('topic').notNull(),
  key: text('key'),
  payload: jsonb('payload').notNull(),
  headers: jsonb('headers').$type<Record<string, string>>().notNull().default({}),
  createdAt: tstz('created_at').notNull().defaultNow(),
  publishedAt: tstz('published_at'),
  /** Set when Kafka refused the event for good; the relay skips it from then on. */
  deadAt: tstz('dead_at'),
  /** Kafka's reason for refusing a dead event. */
  deadReason: text('dead_reason'),
});

export const consumerOffsets = backbone.table(
  'consumer_offsets',
  {
    groupId: text('group_id').notNull(),
    topic: text('topic').notNull(),
    partition: integer('partition').notNull(),
    nextOffset: bigint('next_offset', { mode: 'bigint' }).notNull(),
    updatedAt: tstz('updated_at').notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.groupId, t.topic, t.partition] })],
);

/** Stored offsets found outside their partition's log (migration 0005); see docs/kafka.md. */
export const offsetGaps = backbone.table('offset_gaps', {
  id: bigserial('id', { mode: 'number' }).primaryKey(),
  groupId: text('group_id').notNull(),
  topic: text('topic').notNull(),
  partition: integer('partition').notNull(),
  kind: text('kind').notNull(),
  storedOffset: bigint('stored_offset', { mode: 'bigint' }).notNull(),
  logStart: bigint('log_start', { mode: 'bigint' }).notNull(),
  logEnd: bigint('log_end', { mode: 'bigint' }).notNull(),
  detectedAt: tstz('detected_at').notNull().defaultNow(),
  resolvedAt: tstz('resolved_at'),
  resolution: text('resolution'),
  resolvedOffset: bigint('resolved_offset', { mode: 'bigint' }),
  resolvedBy: text('resolved_by'),
});

export const readinessSnapshots = backbone.table('readiness_snapshots', {
  id: bigserial('id', { mode: 'number' }).primaryKey(),
  takenAt: tstz('taken_at').notNull().defaultNow(),
  status: text('status').notNull(),
  report: jsonb('report').notNull(),
});

export const rejectedRows = backbone.table('rejected_rows', {
  id: bigserial('id', { mode: 'number' }).primaryKey(),
  runId: text('run_id').notNull(),
  source: text('source').notNull(),
  reason: text('reason').notNull(),
  message: text('message').notNull(),
  raw: text('raw'),
  rejectedAt: tstz('rejected_at').notNull().defaultNow(),
});

const bytea = customType<{ data: Buffer; driverData: Buffer }>({ dataType: () => 'bytea' });

/** Full bytes of records whose dead letter carries a truncated payload (docs/stream-bridge.md). */
export const rejectedRecords = backbone.table('rejected_records', {
  id: bigserial('id', { mode: 'number' }).primaryKey(),
  sourceTopic: text('source_topic').notNull(),
  sourcePartition: integer('source_partition').notNull(),
  sourceOffset: bigint('source_offset', { mode: 'bigint' }).notNull(),
  key: bytea('key'),
  payload: bytea('payload'),
  payloadBytes: integer('payload_bytes').notNull(),
  payloadSha256: text('payload_sha256').notNull(),
  errorClass: text('error_class').notNull(),
  reason: text('reason').notNull(),
  message: text('message').notNull(),
  rejectedAt: tstz('rejected_at').notNull().defaultNow(),
});

export const barRetention = backbone.table('bar_retention', {
  timeframe: text('timeframe').primaryKey(),
  retention: interval('retention').notNull(),
  updatedAt: tstz('updated_at').notNull().defaultNow(),
});

export const schemaMigrations = backbone.table('schema_migrations', {
  version: integer('version').primaryKey(),
  name: text('name').notNull(),
  checksum: text('checksum').notNull(),
  mode: text('mode', { enum: ['timescaledb', 'postgres-partitioned'] }).notNull(),
  appliedAt: tstz('applied_at').notNull().defaultNow(),
  durationMs: integer('duration_ms').notNull(),
});
