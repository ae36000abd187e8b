import { waitForFirstJobRuns } from '@backbone/testing';
import type pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { mergeBars, mergeBarsIsolating, type BarRow } from './merge-bars.ts';
import { migrate } from './migrate.ts';
import { createPool, withTransaction } from './pool.ts';
import { createTestDatabase, databaseServerUrl, type TestDatabase } from './test-support/database.ts';

// TimescaleDB only: upserts into a compressed chunk (late data and corrections after the
// compression policy ran), on the stack's real server. The ingest writes with mergeBars, the
// stream sink with mergeBarsIsolating; both are exercised here on the same compressed chunk.
let db: TestDatabase;
let pool: pg.Pool;

beforeAll(async () => {
  db = await createTestDatabase(databaseServerUrl('timescaledb'), 'compressed');
  const client = await db.connect();
  await migrate(client);
  // The scheduler's first runs (compression, bar prune) would race the chunks written here.
  await waitForFirstJobRuns(client);
  pool = createPool({ url: db.url, poolSize: 2 }, { applicationName: 'db-compressed-test' });
});
afterAll(async () => {
  await pool.end();
  await db.drop();
});
beforeEach(async () => {
  await pool.query('TRUNCATE market_data.bars');
});

// The start of a bar chunk three weeks back (TimescaleDB aligns 7-day chunks to the Unix epoch:
// they start on Thursdays): the chunk ended over a week ago, so it is old enough to compress
// (compressAfterDays 7), inside the 1m bars' 30-day retention, and the 2,000 minutes used here
// stay inside it.
const WEEK = 7 * 86_400_000;
const T0 = Math.floor(Date.now() / WEEK) * WEEK - 3 * WEEK;

function bar(minute: number, overrides: Partial<BarRow> = {}): BarRow {
  return {
    symbol: 'EURUSD',
    timeframe: '1m',
    ts: new Date(T0 + minute * 60_000),
    open: 1.0841,
    high: 1.0846,
    low: 1.0839,
    close: 1.0844,
    volume: 1250,
    source: 'feed',
    ...overrides,
  };
}

/** Writes the first 1,000 minutes of two symbols, then compresses their chunk. */
async function compressedHistory(): Promise<string> {
  const history = [0, 1].flatMap((s) =>
    Array.from({ length: 1000 }, (_, minute) => bar(minute, { symbol: s === 0 ? 'EURUSD' : 'GBPUSD' })),
  );
  await withTransaction(pool, (client) => mergeBars(client, history, { runId: 'history' }));
  const compressed = await pool.query<{ chunk: string }>(
    `SELECT compress_chunk(c)::text AS chunk FROM show_chunks('market_data.bars') c`,
  );
  expect(compressed.rows).toHaveLength(1);
  expect(await chunkState()).toEqual({ compressed: true, uncompressedRows: 0 });
  return compressed.rows[0]?.chunk ?? '';
}

/** Whether the bars chunk is compressed, and how many rows sit in its uncompressed part. */
async function chunkState(): Promise<{ compressed: boolean; uncompressedRows: number }> {
  const chunk = await pool.query<{ name: string; is_compressed: boolean }>(
    `SELECT chunk_schema || '.' || chunk_name AS name, is_compressed FROM timescaledb_information.chunks
     WHERE hypertable_name = 'bars'`,
  );
  const row = chunk.rows[0];
  if (row === undefined) throw new Error('no bars chunk');
  // ONLY: the chunk's own heap, not its compressed batches.
  const rows = await pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM ONLY ${row.name}`);
  return { compressed: row.is_compressed, uncompressedRows: rows.rows[0]?.n ?? -1 };
}

async function stored(symbol: string, minutes: number[]) {
  const result = await pool.query<{ minute: number; close: number; revision: number; run: string | null }>(
    `SELECT ((extract(epoch FROM ts) * 1000 - $2) / 60000)::int AS minute, close, revision, ingest_run_id AS run
     FROM market_data.bars WHERE symbol = $1 AND ts = ANY($3::timestamptz[]) ORDER BY ts`,
    [symbol, T0, minutes.map((minute) => new Date(T0 + minute * 60_000))],
  );
  return result.rows;
}

describe('upserts into a compressed chunk on the TimescaleDB server', () => {
  it('mergeBars (the ingest): late bars are inserted, corrections update, identical bars stay unchanged', async () => {
    await compressedHistory();
    const batch = [
      bar(10), // identical to the stored bar
      bar(20, { close: 1.09 }), // a correction
      bar(1000), // late data: a new key in the compressed chunk's range
      bar(1001, { symbol: 'GBPUSD' }),
    ];
    const counts = await withTransaction(pool, (client) => mergeBars(client, batch, { runId: 'late' }));
    expect(counts).toEqual({ inserted: 2, updated: 1, unchanged: 1, duplicatesInBatch: 0 });
    expect(await stored('EURUSD', [10, 20, 1000])).toEqual([
      { minute: 10, close: 1.0844, revision: 0, run: 'history' },
      { minute: 20, close: 1.09, revision: 1, run: 'late' },
      { minute: 1000, close: 1.0844, revision: 0, run: 'late' },
    ]);
    // The same batch again: nothing to rewrite, even though the chunk is (partly) compressed.
    const again = await withTransaction(pool, (client) => mergeBars(client, batch, { runId: 'again' }));
    expect(again).toEqual({ inserted: 0, updated: 0, unchanged: 4, duplicatesInBatch: 0 });
    const total = await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM market_data.bars');
    expect(total.rows).toEqual([{ n: 2002 }]);
    // TimescaleDB decompressed what it had to into the chunk's heap; the chunk stays compressed.
    const state = await chunkState();
    expect(state.compressed).toBe(true);
    expect(state.uncompressedRows).toBeGreaterThanOrEqual(3);
    // The next run of the compression policy compresses those rows again.
    const job = await pool.query<{ job_id: number }>(
      `SELECT job_id FROM timescaledb_information.jobs WHERE proc_name = 'policy_compression' AND hypertable_name = 'bars'`,
    );
    await pool.query(`CALL run_job(${String(job.rows[0]?.job_id)})`);
    expect(await chunkState()).toEqual({ compressed: true, uncompressedRows: 0 });
    expect(await pool.query('SELECT count(*)::int AS n FROM market_data.bars')).toMatchObject({
      rows: [{ n: 2002 }],
    });
  });

  it('mergeBarsIsolating (the stream sink): a correction and late bars land, a refused bar is isolated', async () => {
    await compressedHistory();
    await pool.query('ALTER TABLE market_data.bars ADD CONSTRAINT test_volume_cap CHECK (volume < 1000000)');
    try {
      const batch = [bar(5, { close: 1.2 }), bar(6, { volume: 5_000_000 }), bar(1500), bar(7)];
      const { counts, refused } = await withTransaction(pool, (client) =>
        mergeBarsIsolating(client, batch, { runId: 'sink' }),
      );
      expect(refused.map(({ index }) => index)).toEqual([1]);
      expect(counts).toMatchObject({ inserted: 1, updated: 1, unchanged: 1 });
      expect(await stored('EURUSD', [5, 6, 7, 1500])).toEqual([
        { minute: 5, close: 1.2, revision: 1, run: 'sink' },
        { minute: 6, close: 1.0844, revision: 0, run: 'history' },
        { minute: 7, close: 1.0844, revision: 0, run: 'history' },
        { minute: 1500, close: 1.0844, revision: 0, run: 'sink' },
      ]);
    } finally {
      await pool.query('ALTER TABLE market_data.bars DROP CONSTRAINT test_volume_cap');
    }
  });

  it('a rolled-back merge leaves the compressed chunk as it was', async () => {
    await compressedHistory();
    const failure = withTransaction(pool, async (client) => {
      await mergeBars(client, [bar(30, { close: 2 }), bar(2000)]);
      throw new Error('sink failed after the write');
    });
    await expect(failure).rejects.toThrow('sink failed after the write');
    expect(await stored('EURUSD', [30, 2000])).toEqual([
      { minute: 30, close: 1.0844, revision: 0, run: 'history' },
    ]);
    expect(await chunkState()).toEqual({ compressed: true, uncompressedRows: 0 });
  });
});
