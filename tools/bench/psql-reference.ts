import { writeFileSync } from 'node:fs';
import { command } from './measure.ts';

/** How a CSV file of bars is laid out for the psql references. */
export interface CsvLayout {
  /** The first line names the columns. */
  readonly header: boolean;
  /** The file has a `source` column after volume; otherwise every row gets `sourceLiteral`. */
  readonly hasSource: boolean;
  /** The source stored when the file has none (what the project's path stores: `csv`). */
  readonly sourceLiteral?: string;
}

/**
 * The database's own upsert limit: one psql session, one transaction, `\copy` into a temporary
 * staging table, the partitions for its range, then the same statement as `mergeBars` in
 * @backbone/db (last bar per key, insert, rewrite only when a value differs).
 */
export function copyMergeScript(file: string, layout: CsvLayout): string {
  const source = layout.hasSource ? 'source' : `'${literal(layout.sourceLiteral ?? 'csv')}'`;
  const sourceColumn = layout.hasSource ? ', source text NOT NULL' : '';
  const columns = `symbol, timeframe, ts, open, high, low, close, volume${layout.hasSource ? ', source' : ''}`;
  return `BEGIN;
CREATE TEMP TABLE bench_staging (
  seq bigserial, symbol text NOT NULL, timeframe text NOT NULL, ts timestamptz NOT NULL,
  open double precision NOT NULL, high double precision NOT NULL, low double precision NOT NULL,
  close double precision NOT NULL, volume double precision NOT NULL${sourceColumn}
) ON COMMIT DROP;
\\copy bench_staging (${columns}) FROM '${literal(file)}' WITH (FORMAT csv${layout.header ? ', HEADER true' : ''})
SELECT backbone.ensure_time_partitions('market_data.bars', min(ts), max(ts)) FROM bench_staging;
WITH latest AS (
  SELECT DISTINCT ON (symbol, timeframe, ts) * FROM bench_staging ORDER BY symbol, timeframe, ts, seq DESC
)
INSERT INTO market_data.bars AS t
  (symbol, timeframe, ts, open, high, low, close, volume, source, ingested_at, ingest_run_id)
SELECT symbol, timeframe, ts, open, high, low, close, volume, ${source}, now(), NULL
FROM latest ORDER BY ts, symbol, timeframe
ON CONFLICT (symbol, timeframe, ts) DO UPDATE SET
  open = excluded.open, high = excluded.high, low = excluded.low, close = excluded.close,
  volume = excluded.volume, source = excluded.source,
  ingested_at = excluded.ingested_at, ingest_run_id = excluded.ingest_run_id, revision = t.revision + 1
WHERE (t.open, t.high, t.low, t.close, t.volume, t.source)
  IS DISTINCT FROM (excluded.open, excluded.high, excluded.low, excluded.close, excluded.volume, excluded.source);
COMMIT;
`;
}

/**
 * The insert-only limit: plain `\copy` straight into `market_data.bars` (partitions created
 * first for the file's range, which the merge paths do too). Needs a file with a source column.
 */
export function plainCopyScript(file: string, range: { from: string; to: string }): string {
  return `SELECT backbone.ensure_time_partitions('market_data.bars', '${literal(range.from)}'::timestamptz, '${literal(range.to)}'::timestamptz);
\\copy market_data.bars (symbol, timeframe, ts, open, high, low, close, volume, source) FROM '${literal(file)}' WITH (FORMAT csv)
`;
}

/** Runs a psql script against `url` and stops at the first error. */
export async function runPsqlScript(url: string, scriptFile: string, script: string): Promise<void> {
  writeFileSync(scriptFile, script);
  await command('psql', ['--no-psqlrc', '-q', '-v', 'ON_ERROR_STOP=1', '-d', url, '-f', scriptFile]);
}

// Paths and sources come from the harness itself (a temp directory), never from outside input;
// doubling quotes still keeps a stray quote from ending the literal.
function literal(text: string): string {
  return text.replaceAll("'", "''");
}
