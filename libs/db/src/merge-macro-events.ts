import type { ClientBase } from 'pg';
import { stageRows, type StagingSpec } from './copy-staging.ts';
import { copyNumber, copyText, copyTimestamp } from './copy-text.ts';
import { InvalidRowError } from './errors.ts';
import type { MergeCounts } from './merge-bars.ts';

/**
 * One macro calendar event as the write path takes it: the shape of the macro event contract
 * (`macroEventSchema` in @backbone/contracts). `ts` is the release time, a Date or an ISO-8601
 * string with a zone; `actual`, `forecast` and `previous` are null while not published.
 */
export interface MacroEventRow {
  source: string;
  eventId: string;
  ts: Date | string;
  name: string;
  calendar: string | null;
  currency: string | null;
  actual: number | null;
  forecast: number | null;
  previous: number | null;
  importance: 'low' | 'medium' | 'high' | null;
  /** The provider's revision (0 = first release); a stored row that changes gets at least +1. */
  revision: number;
}

const STAGING = 'backbone_macro_events_staging';
const STAGING_SPEC: StagingSpec = {
  table: STAGING,
  columnsDdl: `seq integer NOT NULL, source text NOT NULL, event_id text NOT NULL, ts timestamptz NOT NULL,
     name text NOT NULL, calendar text, currency text, actual double precision,
     forecast double precision, previous double precision, importance text, revision integer NOT NULL`,
  columns:
    'seq, source, event_id, ts, name, calendar, currency, actual, forecast, previous, importance, revision',
  target: 'market_data.macro_events',
  caller: 'mergeMacroEvents',
};
const IMPORTANCE = new Set(['low', 'medium', 'high']);

/**
 * Writes macro events in the caller's transaction, the way {@link mergeBars} writes bars: COPY
 * into a temporary staging table, keep the last event per key (source, event_id, ts) in arrival
 * order, then one INSERT ... ON CONFLICT DO UPDATE that rewrites a stored event only when a value
 * differs (a scheduled release getting its actual value is an update). Re-running the same batch
 * counts every event unchanged and rewrites nothing.
 *
 * @example
 * const counts = await withTransaction(pool, (client) => mergeMacroEvents(client, events, { runId }));
 */
export async function mergeMacroEvents(
  client: ClientBase,
  events: readonly MacroEventRow[],
  options: { runId?: string | null } = {},
): Promise<MergeCounts> {
  if (events.length === 0) return { inserted: 0, updated: 0, unchanged: 0, duplicatesInBatch: 0 };
  const lines = events.map(toCopyLine);

  await stageRows(client, STAGING_SPEC, lines);
  // Every sub-statement of one WITH sees the same snapshot, so `existed` lists the keys stored
  // before this insert. (The usual `xmax = 0` test for "inserted" is not available on a
  // partitioned table, and the provider's revision cannot tell either.)
  const merged = await client.query<{ distinct_keys: string; inserted: string; updated: string }>(
    `WITH latest AS (
       SELECT DISTINCT ON (source, event_id, ts) *
       FROM ${STAGING}
       ORDER BY source, event_id, ts, seq DESC
     ), existed AS (
       SELECT l.source, l.event_id, l.ts
       FROM latest l JOIN market_data.macro_events m USING (source, event_id, ts)
     ), written AS (
       INSERT INTO market_data.macro_events AS t
         (source, event_id, ts, name, calendar, currency, actual, forecast, previous, importance,
          revision, ingested_at, ingest_run_id)
       SELECT source, event_id, ts, name, calendar, currency, actual, forecast, previous, importance,
              revision, now(), $1
       FROM latest
       ORDER BY ts, source, event_id
       ON CONFLICT (source, event_id, ts) DO UPDATE SET
         name = excluded.name, calendar = excluded.calendar, currency = excluded.currency,
         actual = excluded.actual, forecast = excluded.forecast, previous = excluded.previous,
         importance = excluded.importance, ingested_at = excluded.ingested_at,
         ingest_run_id = excluded.ingest_run_id, revision = greatest(t.revision + 1, excluded.revision)
       WHERE (t.name, t.calendar, t.currency, t.actual, t.forecast, t.previous, t.importance)
         IS DISTINCT FROM (excluded.name, excluded.calendar, excluded.currency, excluded.actual,
                           excluded.forecast, excluded.previous, excluded.importance)
       RETURNING source, event_id, ts
     )
     SELECT (SELECT count(*) FROM latest) AS distinct_keys,
            count(*) FILTER (WHERE e.event_id IS NULL) AS inserted,
            count(*) FILTER (WHERE e.event_id IS NOT NULL) AS updated
     FROM written w LEFT JOIN existed e USING (source, event_id, ts)`,
    [options.runId ?? null],
  );
  // Dropping the staging table at the end as well lets one transaction merge several batches.
  await client.query(`DROP TABLE ${STAGING}`);

  const row = merged.rows[0];
  const distinctKeys = Number(row?.distinct_keys ?? 0);
  const inserted = Number(row?.inserted ?? 0);
  const updated = Number(row?.updated ?? 0);
  return {
    inserted,
    updated,
    unchanged: distinctKeys - inserted - updated,
    duplicatesInBatch: events.length - distinctKeys,
  };
}

function toCopyLine(event: MacroEventRow, index: number): string {
  const ts = event.ts instanceof Date ? event.ts : new Date(event.ts);
  if (Number.isNaN(ts.getTime())) throw new InvalidRowError(index, 'ts', 'is not a valid timestamp');
  for (const field of ['source', 'eventId', 'name'] as const) {
    if (typeof event[field] !== 'string' || event[field] === '')
      throw new InvalidRowError(index, field, 'is empty');
  }
  for (const field of ['source', 'eventId', 'name', 'calendar', 'currency'] as const) {
    // PostgreSQL text cannot hold NUL; COPY would reject the whole batch.
    if (event[field]?.includes('\0') === true)
      throw new InvalidRowError(index, field, 'contains a NUL character');
  }
  for (const field of ['actual', 'forecast', 'previous'] as const) {
    const value = event[field];
    if (value !== null && !Number.isFinite(value))
      throw new InvalidRowError(index, field, 'is not a finite number or null');
  }
  if (event.importance !== null && !IMPORTANCE.has(event.importance))
    throw new InvalidRowError(index, 'importance', 'is not one of low, medium, high');
  if (!Number.isInteger(event.revision) || event.revision < 0)
    throw new InvalidRowError(index, 'revision', 'is not a non-negative integer');
  return [
    String(index),
    copyText(event.source),
    copyText(event.eventId),
    copyTimestamp(ts),
    copyText(event.name),
    copyText(event.calendar),
    copyText(event.currency),
    copyNumber(event.actual),
    copyNumber(event.forecast),
    copyNumber(event.previous),
    copyText(event.importance),
    String(event.revision),
  ].join('\t');
}
