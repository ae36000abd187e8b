import type { SqlExecutor } from './sql-executor.ts';

/** The channel `backbone.outbox` inserts NOTIFY on commit; the relay LISTENs to it. */
export const OUTBOX_CHANNEL = 'backbone_outbox';

/** One event for the relay to publish. */
export interface OutboxEvent {
  topic: string;
  /** Kafka message key; stable so consumers can de-duplicate. */
  key: string | null;
  payload: unknown;
  headers?: Record<string, string>;
}

/**
 * Adds an event to `backbone.outbox` in the caller's transaction; the relay publishes it after
 * commit. Returns the row id (a bigint, as a string).
 *
 * @example await insertOutboxEvent(client, { topic: 'backbone.ingest-events.v1', key: runId, payload: event });
 */
export async function insertOutboxEvent(client: SqlExecutor, event: OutboxEvent): Promise<string> {
  const result = await client.query<{ id: string }>(
    `INSERT INTO backbone.outbox (topic, key, payload, headers) VALUES ($1, $2, $3::jsonb, $4::jsonb) RETURNING id::text`,
    [event.topic, event.key, JSON.stringify(event.payload), JSON.stringify(event.headers ?? {})],
  );
  const id = result.rows[0]?.id;
  if (id === undefined) throw new Error('INSERT INTO backbone.outbox returned no id');
  return id;
}

/** One row of `backbone.ingest_runs`. */
export interface IngestRunRecord {
  runId: string;
  dimension: string;
  source: string;
  plan?: string | null;
  status: 'running' | 'succeeded' | 'partial' | 'failed';
  symbols: readonly string[];
  windowStart?: Date | null;
  windowEnd?: Date | null;
  inserted: number;
  updated: number;
  unchanged: number;
  rejected: number;
  freshnessSeconds?: number | null;
  quality?: unknown;
  startedAt: Date;
  finishedAt?: Date | null;
  error?: string | null;
}

/**
 * Inserts or updates (by runId) an ingest run, so a run can be recorded as `running` first and
 * completed later in the transaction that stores its rows.
 *
 * @example await recordIngestRun(client, { runId, dimension: 'bars', source: 'csv', status: 'succeeded', ...counts });
 */
export async function recordIngestRun(client: SqlExecutor, run: IngestRunRecord): Promise<void> {
  await client.query(
    `INSERT INTO backbone.ingest_runs (run_id, dimension, source, plan, status, symbols, window_start, window_end,
       inserted, updated, unchanged, rejected, freshness_seconds, quality, started_at, finished_at, error)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14::jsonb, $15, $16, $17)
     ON CONFLICT (run_id) DO UPDATE SET
       dimension = excluded.dimension, source = excluded.source, plan = excluded.plan, status = excluded.status,
       symbols = excluded.symbols, window_start = excluded.window_start, window_end = excluded.window_end,
       inserted = excluded.inserted, updated = excluded.updated, unchanged = excluded.unchanged,
       rejected = excluded.rejected, freshness_seconds = excluded.freshness_seconds, quality = excluded.quality,
       started_at = excluded.started_at, finished_at = excluded.finished_at, error = excluded.error`,
    [
      run.runId,
      run.dimension,
      run.source,
      run.plan ?? null,
      run.status,
      [...run.symbols],
      run.windowStart ?? null,
      run.windowEnd ?? null,
      run.inserted,
      run.updated,
      run.unchanged,
      run.rejected,
      run.freshnessSeconds ?? null,
      run.quality === undefined ? null : JSON.stringify(run.quality),
      run.startedAt,
      run.finishedAt ?? null,
      run.error ?? null,
    ],
  );
}

/** One rejected input record with the reason it was refused. */
export interface RejectedRow {
  runId: string;
  source: string;
  /** A short machine-readable reason, counted per run (e.g. `high_below_low`). */
  reason: string;
  /** What was wrong, for a human. */
  message: string;
  /** The record as received (a CSV line, a JSON text), if it can be kept. */
  raw?: string | null;
}

/**
 * Stores rejected records in one statement; returns how many were stored.
 *
 * @example await recordRejectedRows(client, [{ runId, source: 'csv', reason: 'nan_price', message: 'close is NaN', raw: line }]);
 */
export async function recordRejectedRows(client: SqlExecutor, rows: readonly RejectedRow[]): Promise<number> {
  if (rows.length === 0) return 0;
  const result = await client.query<{ stored: number }>(
    `WITH stored AS (
       INSERT INTO backbone.rejected_rows (run_id, source, reason, message, raw)
       SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[])
       RETURNING 1
     )
     SELECT count(*)::int AS stored FROM stored`,
    [
      rows.map((row) => row.runId),
      rows.map((row) => row.source),
      rows.map((row) => row.reason),
      rows.map((row) => row.message),
      rows.map((row) => row.raw ?? null),
    ],
  );
  return result.rows[0]?.stored ?? 0;
}
