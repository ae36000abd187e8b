import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { join } from 'node:path';
import type { SystemConfig } from '@backbone/config';
import { createPool } from '@backbone/db';
import { parseIngestRequest, runIngest } from '@backbone/ingest';
import { createBarFeed } from '@backbone/kafka';
import { countBars, createBenchDatabase, type BenchDatabase } from './database.ts';
import { ratio, series, timed, type Series } from './measure.ts';
import { copyMergeScript, runPsqlScript } from './psql-reference.ts';

export interface IngestScenarioOptions {
  readonly config: SystemConfig;
  readonly rows: number;
  readonly repetitions: number;
  readonly workDir: string;
}

export interface IngestScenarioResult {
  readonly rows: number;
  readonly fileMb: number;
  readonly batchRows: number;
  readonly ingest: Series;
  readonly copyMerge: Series;
  readonly ratioToCopyMerge: number;
}

const SYMBOLS = Array.from({ length: 10 }, (_, i) => `BENCH${String(i)}`);

/**
 * Scenario 2: one generated 1-minute CSV through `runIngest` (the code behind `./backbone ingest
 * --provider csv`) against psql `\copy` + the same merge of the same file, each repetition into
 * the truncated benchmark database.
 */
export async function runIngestScenario(options: IngestScenarioOptions): Promise<IngestScenarioResult> {
  const { config, rows, repetitions } = options;
  const csv = join(options.workDir, 'ingest-1m.csv');
  const bytes = await writeProviderCsv(csv, rows);
  const script = join(options.workDir, 'ingest.sql');
  const database = await createBenchDatabase(config.database.url, 'bench_ingest');
  try {
    const ingest: number[] = [];
    const copyMerge: number[] = [];
    for (let i = 0; i < repetitions; i++) {
      await database.reset();
      ingest.push(await runIngestOnce(config, database, csv, rows));

      await database.reset();
      const layout = { header: true, hasSource: false, sourceLiteral: 'csv' };
      copyMerge.push(
        rows / (await timed(() => runPsqlScript(database.url, script, copyMergeScript(csv, layout)))),
      );
      await expectBars(database, rows, 'psql \\copy + merge');
    }
    const ingestSeries = series(ingest);
    const copyMergeSeries = series(copyMerge);
    return {
      rows,
      fileMb: Math.round((bytes / 1024 / 1024) * 10) / 10,
      batchRows: config.ingest.batchRows,
      ingest: ingestSeries,
      copyMerge: copyMergeSeries,
      ratioToCopyMerge: ratio(ingestSeries, copyMergeSeries),
    };
  } finally {
    await database.drop();
  }
}

/**
 * One repetition: `csv` through `runIngest` into the (reset) `database`; returns rows/s after
 * checking every row was stored.
 */
export async function runIngestOnce(
  config: SystemConfig,
  database: BenchDatabase,
  csv: string,
  rows: number,
): Promise<number> {
  const pool = createPool({ ...config.database, url: database.url }, { applicationName: 'backbone-bench' });
  let seconds: number;
  try {
    const request = parseIngestRequest({ provider: 'csv', files: [csv] }, new Date());
    let status = '';
    seconds = await timed(async () => {
      const result = await runIngest({ pool, config }, request);
      status = result.status;
      if (result.rejected > 0) throw new Error(`runIngest rejected ${result.rejected} generated rows`);
    });
    if (status !== 'succeeded') throw new Error(`runIngest ended ${status}`);
  } finally {
    await pool.end();
  }
  await expectBars(database, rows, 'runIngest');
  return rows / seconds;
}

/** A provider-shaped CSV (header, no source column) of valid 1-minute bars; returns its size. */
export async function writeProviderCsv(file: string, rows: number): Promise<number> {
  const feed = createBarFeed({
    symbols: SYMBOLS,
    timeframe: '1m',
    seed: 2,
    start: new Date('2025-06-02T00:00:00Z'),
  });
  const out = createWriteStream(file);
  let bytes = 0;
  const write = async (text: string): Promise<void> => {
    bytes += Buffer.byteLength(text);
    if (!out.write(text)) await once(out, 'drain');
  };
  await write('symbol,timeframe,ts,open,high,low,close,volume\n');
  const chunk: string[] = [];
  for (let i = 0; i < rows; i++) {
    const bar = feed.next();
    chunk.push(
      `${bar.symbol},${bar.timeframe},${bar.ts},${bar.open},${bar.high},${bar.low},${bar.close},${bar.volume}\n`,
    );
    if (chunk.length === 10_000) await write(chunk.splice(0).join(''));
  }
  await write(chunk.join(''));
  out.end();
  await once(out, 'finish');
  return bytes;
}

async function expectBars(database: BenchDatabase, rows: number, path: string): Promise<void> {
  const stored = await countBars(database.url);
  if (stored !== rows) throw new Error(`${path} stored ${stored} of ${rows} rows`);
}
