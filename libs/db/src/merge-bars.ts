import type { ClientBase } from 'pg';
import { stageRows, type StagingSpec } from './copy-staging.ts';
import { copyNumber, copyText, copyTimestamp } from './copy-text.ts';
import { classifyDatabaseError } from './database-errors.ts';
import { InvalidRowError } from './errors.ts';

/**
 * One bar as the write path takes it: the shape of the `market.bars.v1` contract. `ts` is the
 * bar's open time, a Date or an ISO-8601 string with a zone.
 */
export interface BarRow {
  symbol: string;
  timeframe: string;
  ts: Date | string;
  open: number;
  high: number;
  low: number;
  close: number;
  volume: number;
  source: string;
}

/** How a batch landed. `inserted + updated + unchanged + duplicatesInBatch` = bars handed in. */
export interface MergeCounts {
  /** Keys not stored before. */
  inserted: number;
  /** Keys stored before whose values differed; rewritten. */
  updated: number;
  /** Keys stored before with identical values; not rewritten. */
  unchanged: number;
  /** Bars superseded by a later bar with the same key in the same batch (last one wins). */
  duplicatesInBatch: number;
}

const STAGING = 'backbone_bars_staging';
const STAGING_SPEC: StagingSpec = {
  table: STAGING,
  columnsDdl: `seq integer NOT NULL, symbol text NOT NULL, timeframe text NOT NULL, ts timestamptz NOT NULL,
     open double precision NOT NULL, high double precision NOT NULL, low double precision NOT NULL,
     close double precision NOT NULL, volume double precision NOT NULL, source text NOT NULL`,
  columns: 'seq, symbol, timeframe, ts, open, high, low, close, volume, source',
  target: 'market_data.bars',
  caller: 'mergeBars',
};

/**
 * Writes bars in the caller's transaction: COPY into a temporary staging table, keep the last
 * bar per key (arrival order), then one INSERT ... ON CONFLICT DO UPDATE that rewrites a stored
 * bar only when a value differs. Re-running the same batch changes nothing and counts every bar
 * unchanged. Rows are inserted in ts order so they land in the newest chunks together.
 *
 * @example
 * const counts = await withTransaction(pool, (client) => mergeBars(client, bars, { runId }));
 */
export async function mergeBars(
  client: ClientBase,
  bars: readonly BarRow[],
  options: { runId?: string | null } = {},
): Promise<MergeCounts> {
  if (bars.length === 0) return { inserted: 0, updated: 0, unchanged: 0, duplicatesInBatch: 0 };
  const lines = bars.map(toCopyLine);

  await stageRows(client, STAGING_SPEC, lines);
  const merged = await client.query<{ distinct_keys: string; inserted: string; updated: string }>(
    `WITH latest AS (
       SELECT DISTINCT ON (symbol, timeframe, ts) *
       FROM ${STAGING}
       ORDER BY symbol, timeframe, ts, seq DESC
     ), written AS (
       INSERT INTO market_data.bars AS t
         (symbol, timeframe, ts, open, high, low, close, volume, source, ingested_at, ingest_run_id)
       SELECT symbol, timeframe, ts, open, high, low, close, volume, source, now(), $1
       FROM latest
       ORDER BY ts, symbol, timeframe
       ON CONFLICT (symbol, timeframe, ts) DO UPDATE SET
         open = excluded.open, high = excluded.high, low = excluded.low, close = excluded.close,
         volume = excluded.volume, source = excluded.source,
         ingested_at = excluded.ingested_at, ingest_run_id = excluded.ingest_run_id, revision = t.revision + 1
       WHERE (t.open, t.high, t.low, t.close, t.volume, t.source)
         IS DISTINCT FROM (excluded.open, excluded.high, excluded.low, excluded.close, excluded.volume, excluded.source)
       RETURNING (revision = 0) AS inserted
     )
     SELECT (SELECT count(*) FROM latest) AS distinct_keys,
            count(*) FILTER (WHERE inserted) AS inserted,
            count(*) FILTER (WHERE NOT inserted) AS updated
     FROM written`,
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
    duplicatesInBatch: bars.length - distinctKeys,
  };
}

/** A bar the database refused, by its position in the batch handed to {@link mergeBarsIsolating}. */
export interface RefusedBar {
  readonly index: number;
  /** The database's error (or the write path's {@link InvalidRowError}) for this bar alone. */
  readonly error: Error;
}

const SAVEPOINT = 'backbone_merge_isolation';

/**
 * {@link mergeBars}, but a bar the database refuses (SQLSTATE class 22/23: a value out of range,
 * a CHECK constraint, ...) does not fail the others. The batch is merged under a savepoint; when
 * the database refuses it, the savepoint is rolled back and the batch is bisected until every
 * refused bar stands alone. The rest are merged in the caller's transaction. A transient or
 * permanent error (see classifyDatabaseError) is thrown as before: no bar is blamed for it.
 *
 * Halves are merged in order, so for bars with the same key the later one still wins; only the
 * counts then say `updated` where mergeBars would count a duplicate in the batch. One refused bar
 * in n costs about 2·log2(n) extra merges.
 *
 * @example
 * const { counts, refused } = await withTransaction(pool, (client) => mergeBarsIsolating(client, bars, { runId }));
 */
export async function mergeBarsIsolating(
  client: ClientBase,
  bars: readonly BarRow[],
  options: { runId?: string | null } = {},
): Promise<{ counts: MergeCounts; refused: RefusedBar[] }> {
  const counts: MergeCounts = { inserted: 0, updated: 0, unchanged: 0, duplicatesInBatch: 0 };
  const refused: RefusedBar[] = [];
  const merge = async (first: number, end: number): Promise<void> => {
    await client.query(`SAVEPOINT ${SAVEPOINT}`);
    try {
      const merged = await mergeBars(client, bars.slice(first, end), options);
      counts.inserted += merged.inserted;
      counts.updated += merged.updated;
      counts.unchanged += merged.unchanged;
      counts.duplicatesInBatch += merged.duplicatesInBatch;
    } catch (error) {
      if (classifyDatabaseError(error) !== 'row_rejected') throw error;
      await client.query(`ROLLBACK TO SAVEPOINT ${SAVEPOINT}`);
      await client.query(`RELEASE SAVEPOINT ${SAVEPOINT}`);
      if (end - first === 1) {
        refused.push({ index: first, error: error instanceof Error ? error : new Error(String(error)) });
        return;
      }
      const middle = first + Math.ceil((end - first) / 2);
      await merge(first, middle);
      await merge(middle, end);
      return;
    }
    await client.query(`RELEASE SAVEPOINT ${SAVEPOINT}`);
  };
  if (bars.length > 0) await merge(0, bars.length);
  return { counts, refused };
}

function toCopyLine(bar: BarRow, index: number): string {
  const ts = bar.ts instanceof Date ? bar.ts : new Date(bar.ts);
  if (Number.isNaN(ts.getTime())) throw new InvalidRowError(index, 'ts', `is not a valid timestamp`);
  for (const field of ['open', 'high', 'low', 'close', 'volume'] as const) {
    if (!Number.isFinite(bar[field])) throw new InvalidRowError(index, field, 'is not a finite number');
  }
  for (const field of ['symbol', 'timeframe', 'source'] as const) {
    if (typeof bar[field] !== 'string' || bar[field] === '')
      throw new InvalidRowError(index, field, 'is empty');
    // PostgreSQL text cannot hold NUL; COPY would reject the whole batch.
    if (bar[field].includes('\0')) throw new InvalidRowError(index, field, 'contains a NUL character');
  }
  return [
    String(index),
    copyText(bar.symbol),
    copyText(bar.timeframe),
    copyTimestamp(ts),
    copyNumber(bar.open),
    copyNumber(bar.high),
    copyNumber(bar.low),
    copyNumber(bar.close),
    copyNumber(bar.volume),
    copyText(bar.source),
  ].join('\t');
}
