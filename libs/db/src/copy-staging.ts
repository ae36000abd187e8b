import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ClientBase } from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { NotInTransactionError } from './errors.ts';

const ROWS_PER_CHUNK = 2000;

/** What {@link stageRows} stages, and for which partitioned table. */
export interface StagingSpec {
  /** The temporary staging table's name. */
  table: string;
  /** Its column definitions (DDL), with a `ts timestamptz` column. */
  columnsDdl: string;
  /** The columns the COPY lines fill, in line order. */
  columns: string;
  /** The time-partitioned table the staged rows go to next (e.g. `market_data.bars`). */
  target: string;
  /** Named in the error when called outside a transaction. */
  caller: string;
}

/**
 * The first half of every merge: creates the temporary staging table (see
 * {@link createStagingTable}), COPYs `lines` into it, and makes sure the target's time partitions
 * for the staged range exist before the merge inserts (a no-op on TimescaleDB). The caller merges
 * from `spec.table` and drops it afterwards, so one transaction can merge several batches.
 *
 * @example await stageRows(client, { table: 'backbone_bars_staging', columnsDdl, columns, target: 'market_data.bars', caller: 'mergeBars' }, lines);
 */
export async function stageRows(
  client: ClientBase,
  spec: StagingSpec,
  lines: readonly string[],
): Promise<void> {
  await createStagingTable(client, spec.table, spec.columnsDdl, spec.caller);
  await copyLines(client, spec.table, spec.columns, lines);
  // Partitions are ensured per island of staged rows (rows less than ISLAND_GAP apart), not for
  // [min(ts), max(ts)]: one stray old bar among today's would otherwise create a partition for
  // every week in between (thousands, each taking locks until the shared lock table runs out).
  await client.query(
    `SELECT backbone.ensure_time_partitions('${spec.target}', min(ts), max(ts))
     FROM (
       SELECT ts, count(*) FILTER (WHERE gap) OVER (ORDER BY ts) AS island
       FROM (SELECT ts, ts - lag(ts) OVER (ORDER BY ts) > interval '${ISLAND_GAP}' AS gap FROM ${spec.table}) AS steps
     ) AS islands
     GROUP BY island`,
  );
}

/**
 * Rows closer than this share one `ensure_time_partitions` range: a few empty partitions inside
 * a gap cost nothing, one call per row would (daily bars skip weekends and holidays).
 */
const ISLAND_GAP = '31 days';

/**
 * Creates the temporary staging table of a merge (`ON COMMIT DROP`, so it can never outlive the
 * transaction even if this process dies) and refuses to go on outside a transaction block, where
 * the table would be gone again before the merge reads it.
 *
 * @example await createStagingTable(client, 'backbone_bars_staging', 'seq integer NOT NULL, …', 'mergeBars');
 */
export async function createStagingTable(
  client: ClientBase,
  table: string,
  columnsDdl: string,
  caller: string,
): Promise<void> {
  await client.query(`CREATE TEMP TABLE ${table} (${columnsDdl}) ON COMMIT DROP`);
  // Creating a table assigns a transaction id; outside a transaction block it is gone again.
  const inTransaction = await client.query<{ assigned: boolean }>(
    'SELECT pg_current_xact_id_if_assigned() IS NOT NULL AS assigned',
  );
  if (inTransaction.rows[0]?.assigned !== true) {
    throw new NotInTransactionError(`${caller} must run inside a transaction (use withTransaction)`);
  }
}

/**
 * Streams COPY text-format lines (see copy-text.ts) into `table (columns)`, a few thousand lines
 * per write so a large batch never becomes one huge string.
 *
 * @example await copyLines(client, 'backbone_bars_staging', 'seq, symbol, ts', lines);
 */
export async function copyLines(
  client: ClientBase,
  table: string,
  columns: string,
  lines: readonly string[],
): Promise<void> {
  const copy = client.query(copyFrom(`COPY ${table} (${columns}) FROM STDIN`));
  await pipeline(Readable.from(chunked(lines)), copy);
}

function* chunked(lines: readonly string[]): Generator<string> {
  for (let start = 0; start < lines.length; start += ROWS_PER_CHUNK) {
    yield lines.slice(start, start + ROWS_PER_CHUNK).join('\n') + '\n';
  }
}
