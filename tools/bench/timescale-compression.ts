/**
 * TimescaleDB compression on the stack's server (issue 15): how well a month of 1-minute bars
 * compresses, and what merging late data and corrections into compressed chunks costs compared
 * with uncompressed ones. Not part of `npm test` or `npm run bench`; its figures are in
 * docs/storage.md ("TimescaleDB").
 *
 *   npm run bench:timescale -- [--symbols 10] [--days 30] [--batch 20000] [--repetitions 5]
 *
 * Writes bench/results/timescale-compression-<timestamp>.json (every sample). Needs the local
 * stack's TimescaleDB (`./backbone stack up`; `database.url` from the config).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { loadConfig } from '@backbone/config';
import { createPool, mergeBars, withTransaction, type BarRow, type MergeCounts } from '@backbone/db';
import type pg from 'pg';
import { createBenchDatabase } from './database.ts';
import { series, timed, type Series } from './measure.ts';

const MINUTE = 60_000;
const DAY = 1440 * MINUTE;
const WEEK = 7 * DAY;

const { values } = parseArgs({
  options: {
    symbols: { type: 'string', default: '10' },
    days: { type: 'string', default: '30' },
    batch: { type: 'string', default: '20000' },
    repetitions: { type: 'string', default: '5' },
  },
});
const symbols = Array.from({ length: Number(values.symbols) }, (_, i) => `SYM${String(i).padStart(2, '0')}`);
const days = Number(values.days);
const batchSize = Number(values.batch);
const repetitions = Number(values.repetitions);
// Starts on a chunk boundary 12 weeks back (TimescaleDB aligns 7-day chunks to the Unix epoch):
// every chunk is past compressAfterDays.
const start = Math.floor(Date.now() / WEEK) * WEEK - 12 * WEEK;
const minutes = days * 1440;

const log = (message: string): void => {
  process.stderr.write(`[compression ${new Date().toISOString()}] ${message}\n`);
};

/** A deterministic random walk per symbol: prices with 5 decimals, whole volumes, like FX feeds. */
function* monthOfBars(): Generator<BarRow[]> {
  let seed = 42;
  const random = (): number => {
    seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  for (const [index, symbol] of symbols.entries()) {
    let price = 1 + index * 0.25;
    let batch: BarRow[] = [];
    for (let minute = 0; minute < minutes; minute += 1) {
      const open = price;
      const close = Math.round((open + (random() - 0.5) * 0.0004) * 1e5) / 1e5;
      const high = Math.round((Math.max(open, close) + random() * 0.0002) * 1e5) / 1e5;
      const low = Math.round((Math.min(open, close) - random() * 0.0002) * 1e5) / 1e5;
      batch.push({
        symbol,
        timeframe: '1m',
        ts: new Date(start + minute * MINUTE),
        open,
        high,
        low,
        close,
        volume: Math.floor(random() * 5000),
        source: 'bench',
      });
      price = close;
      if (batch.length === batchSize) {
        yield batch;
        batch = [];
      }
    }
    if (batch.length > 0) yield batch;
  }
}

/**
 * Late data and corrections, as a provider re-send brings them: `corrections` rewrite stored bars
 * of one symbol's consecutive minutes (close changed), `late` are bars of a symbol not stored yet
 * in the same time range (new keys inside the compressed chunks). `offset` picks another stretch
 * per repetition, so no repetition finds the work of the one before.
 */
function merges(kind: 'corrections' | 'late', repetition: number, state: string): BarRow[] {
  const symbol =
    kind === 'late' ? `LATE_${state}_${String(repetition)}` : symbols[repetition % symbols.length];
  const first = (repetition * batchSize + (state === 'compressed' ? 0 : minutes / 2)) % (minutes - batchSize);
  return Array.from({ length: batchSize }, (_, i) => ({
    symbol: symbol ?? 'SYM00',
    timeframe: '1m',
    ts: new Date(start + (first + i) * MINUTE),
    open: 2,
    high: 2.5,
    low: 1.5,
    // Unique per sample, so every correction differs from whatever an earlier sample wrote.
    close: 2 + (2 * repetition + (state === 'compressed' ? 0 : 1)) / 1000,
    volume: 1,
    source: 'bench-resend',
  }));
}

async function compressAll(client: pg.PoolClient): Promise<number> {
  const chunks = await client.query(
    `SELECT compress_chunk(c, if_not_compressed => true) FROM show_chunks('market_data.bars') c`,
  );
  return chunks.rows.length;
}

async function decompressAll(client: pg.PoolClient): Promise<void> {
  await client.query(
    `SELECT decompress_chunk(c, if_compressed => true) FROM show_chunks('market_data.bars') c`,
  );
}

interface SizeRow {
  total_chunks: string;
  number_compressed_chunks: string;
  before_compression_total_bytes: string | null;
  after_compression_total_bytes: string | null;
}

async function main(): Promise<void> {
  const config = loadConfig({ argv: [] });
  const database = await createBenchDatabase(config.database.url, 'bench_compression');
  const pool = createPool({ ...config.database, url: database.url, statementTimeoutMs: 0, poolSize: 2 });
  const startedAt = new Date();
  try {
    const client = await pool.connect();
    try {
      const version = await client.query<{ v: string }>(
        `SELECT extversion AS v FROM pg_extension WHERE extname = 'timescaledb'`,
      );
      if (version.rows[0] === undefined) throw new Error(`${config.database.url} has no TimescaleDB`);
      // The policies would compress behind the measurement's back; this script compresses itself.
      await client.query(
        `SELECT alter_job(job_id, scheduled => false) FROM timescaledb_information.jobs WHERE job_id >= 1000`,
      );

      const rows = symbols.length * minutes;
      log(
        `writing ${String(rows)} 1m bars (${String(symbols.length)} symbols x ${String(days)} days) with mergeBars`,
      );
      let written = 0;
      const writeSeconds = await timed(async () => {
        for (const batch of monthOfBars()) {
          const counts = await withTransaction(pool, (tx) => mergeBars(tx, batch));
          written += counts.inserted;
        }
      });
      if (written !== rows) throw new Error(`wrote ${String(written)} of ${String(rows)} bars`);
      const uncompressed = await client.query<{ bytes: string }>(
        `SELECT sum(total_bytes)::text AS bytes FROM chunks_detailed_size('market_data.bars')`,
      );
      log('compressing every chunk');
      const compressSeconds = await timed(() => compressAll(client));
      const stats = await client.query<SizeRow>(
        `SELECT total_chunks::text, number_compressed_chunks::text, before_compression_total_bytes::text,
                after_compression_total_bytes::text
         FROM hypertable_compression_stats('market_data.bars')`,
      );
      const size = stats.rows[0];
      const before = Number(size?.before_compression_total_bytes);
      const after = Number(size?.after_compression_total_bytes);
      log(`compression: ${String(before)} -> ${String(after)} bytes (${(before / after).toFixed(1)}x)`);

      // Compressed and uncompressed alternate within each repetition, so both see the same load
      // on this shared machine; the ratio of their medians is the figure, the rates are context.
      const samples: Record<string, number[]> = {};
      const counts: Record<string, MergeCounts[]> = {};
      for (let repetition = 0; repetition < repetitions; repetition += 1) {
        for (const kind of ['corrections', 'late'] as const) {
          for (const state of ['compressed', 'uncompressed'] as const) {
            // Each sample starts from the same state: merges leave decompressed rows behind.
            if (state === 'compressed') await compressAll(client);
            else await decompressAll(client);
            const batch = merges(kind, repetition, state);
            let merged: MergeCounts | undefined;
            const seconds = await timed(async () => {
              merged = await withTransaction(pool, (tx) => mergeBars(tx, batch, { runId: 'resend' }));
            });
            if (merged === undefined) throw new Error('merge returned nothing');
            const landed = kind === 'late' ? merged.inserted : merged.updated;
            if (landed !== batch.length) {
              throw new Error(`${kind}: ${String(landed)} of ${String(batch.length)} bars landed`);
            }
            const key = `${state} ${kind}`;
            (counts[key] ??= []).push(merged);
            (samples[key] ??= []).push(Math.round(batch.length / seconds));
          }
        }
        log(`repetition ${String(repetition + 1)}: ${JSON.stringify(samples)}`);
      }
      const merge: Record<string, Series & { counts: MergeCounts[] }> = {};
      for (const [key, rates] of Object.entries(samples))
        merge[key] = { ...series(rates), counts: counts[key] ?? [] };
      const slowdown = (kind: string): number =>
        Math.round(
          ((merge[`uncompressed ${kind}`]?.median ?? 0) / (merge[`compressed ${kind}`]?.median ?? 1)) * 100,
        ) / 100;
      const results = {
        startedAt: startedAt.toISOString(),
        machine: { cores: cpus().length, loadAverageAtStart: loadavg() },
        timescaledb: version.rows[0].v,
        data: { symbols: symbols.length, days, rows, firstBar: new Date(start).toISOString() },
        write: { seconds: writeSeconds, rowsPerSecond: Math.round(rows / writeSeconds) },
        compression: {
          chunks: Number(size?.total_chunks),
          compressedChunks: Number(size?.number_compressed_chunks),
          chunksDetailedSizeBeforeBytes: Number(uncompressed.rows[0]?.bytes),
          beforeCompressionTotalBytes: before,
          afterCompressionTotalBytes: after,
          ratio: Math.round((before / after) * 10) / 10,
          compressSeconds,
        },
        merge: {
          batchBars: batchSize,
          repetitions,
          rowsPerSecond: merge,
          // How many times faster the same merge is into uncompressed chunks.
          uncompressedOverCompressed: { corrections: slowdown('corrections'), late: slowdown('late') },
        },
      };
      mkdirSync(new URL('../../bench/results/', import.meta.url), { recursive: true });
      const file = new URL(
        `../../bench/results/timescale-compression-${startedAt.toISOString().replace(/:/g, '-').replace(/\.\d+/, '')}.json`,
        import.meta.url,
      );
      writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
      process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
      log(`wrote ${file.pathname}`);
    } finally {
      client.release();
    }
  } finally {
    await pool.end();
    await database.drop();
  }
}

await main();
