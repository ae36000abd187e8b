import { readdirSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { systemConfigSchema, type SystemConfig } from '@backbone/config';
import { ingestRunEventSchema } from '@backbone/contracts';
import { createPool, migrate } from '@backbone/db';
import { startReplayServer } from '@backbone/market-sources/test-support';
import { createTestDatabase, type TestDatabase } from '@backbone/testing';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IngestFailedError } from './errors/ingest-failed-error.ts';
import { parseIngestRequest } from './request.ts';
import { runIngest } from './run-ingest.ts';

const FIXTURES = join(import.meta.dirname, '../../../fixtures/bars');
const NOW = new Date('2026-11-26T12:00:00Z');

let db: TestDatabase;
let pool: pg.Pool;
let scratch: string;

function configWith(overrides: { batchRows?: number } = {}): SystemConfig {
  return systemConfigSchema.parse({ ingest: { batchRows: overrides.batchRows ?? 5000 } });
}

beforeAll(async () => {
  db = await createTestDatabase('t_ingest', { migrate });
  pool = createPool({ url: db.url, poolSize: 4 }, { applicationName: 'ingest-int-test' });
  scratch = await mkdtemp(join(tmpdir(), 'ingest-test-'));
});
afterAll(async () => {
  await pool.end();
  await db.drop();
  await rm(scratch, { recursive: true, force: true });
});

async function ingestFiles(files: string[], config = configWith()) {
  return runIngest({ pool, config, now: () => NOW }, parseIngestRequest({ provider: 'csv', files }, NOW));
}

/** Every stored column of every bar, in key order, as one digest: "identical contents" exactly. */
async function tableDigest(): Promise<{ rows: number; digest: string }> {
  const result = await pool.query<{ rows: string; digest: string }>(
    `SELECT count(*) AS rows,
            md5(coalesce(string_agg(b::text, '|' ORDER BY symbol, timeframe, ts), '')) AS digest
     FROM market_data.bars b`,
  );
  const row = result.rows[0];
  return { rows: Number(row?.rows), digest: row?.digest ?? '' };
}

async function count(sql: string, params: unknown[] = []): Promise<number> {
  const result = await pool.query<{ n: string }>(sql, params);
  return Number(result.rows[0]?.n);
}

async function truncateAll(): Promise<void> {
  await pool.query(
    'TRUNCATE market_data.bars, backbone.ingest_runs, backbone.outbox, backbone.rejected_rows',
  );
}

describe('runIngest on the shipped fixtures', () => {
  it('stores every fixture bar once; a second run inserts and updates nothing and leaves the table identical', async () => {
    await truncateAll();
    const files = readdirSync(FIXTURES)
      .filter((name) => name.endsWith('.csv'))
      .map((name) => join(FIXTURES, name));
    expect(files.length).toBeGreaterThanOrEqual(8);

    const first = await ingestFiles(files);
    const afterFirst = await tableDigest();
    expect(first.status).toBe('succeeded');
    expect(first.rejected).toBe(0);
    expect(first.inserted).toBe(afterFirst.rows);
    expect(first.inserted).toBe(25_629); // 3 × 525 + 504 daily, 3 × 7200 + 1950 minute bars
    expect(first.quality.coverage).toBe(1);
    expect(first.quality.gaps).toBe(0);

    const second = await ingestFiles(files);
    expect(second).toMatchObject({
      status: 'succeeded',
      inserted: 0,
      updated: 0,
      unchanged: first.inserted,
      rejected: 0,
    });
    expect(await tableDigest()).toEqual(afterFirst);
  });
});

describe('runIngest on bad input', () => {
  it('counts every bad line by reason in backbone.rejected_rows and stores the valid rows exactly once', async () => {
    await truncateAll();
    const file = join(scratch, 'bad.csv');
    await writeFile(
      file,
      [
        'symbol,timeframe,ts,open,high,low,close,volume',
        'EURUSD,1d,2026-11-16T00:00:00Z,1.1,1.2,1.0,1.15,100', // valid
        'EURUSD,1d,2026-11-17T00:00:00Z,1.15,1.25,1.1,1.2', // malformed: 7 columns
        'EURUSD,1d,2026-11-18T00:00:00Z,NaN,1.25,1.1,1.2,100', // NaN price
        'EURUSD,1d,2026-11-19T00:00:00Z,1.2,1.0,1.3,1.1,100', // high < low
        "EURUSD'; DROP TABLE market_data.bars; --,1d,2026-11-20T00:00:00Z,1.1,1.2,1.0,1.15,100", // SQL in symbol
        'EURUSD,1d,2026-11-20T13:00:00Z,1.1,1.2,1.0,1.15,100', // daily bar not at 00:00 UTC
        'EURUSD,1d,not-a-date,1.1,1.2,1.0,1.15,100', // unparsable timestamp
        'EURUSD,1d,2026-11-20T00:00:00Z,1.2,1.3,1.1,1.25,100', // valid
        'EURUSD,1d,2026-11-20T00:00:00Z,1.2,1.3,1.1,1.25,100', // exact duplicate of the line above
        'EURUSD,1d,2026-12-20T00:00:00Z,1.2,1.3,1.1,1.25,100', // in the future
        '',
      ].join('\n'),
    );
    const result = await ingestFiles([file]);
    expect(result.status).toBe('succeeded');
    expect(result.inserted).toBe(2);
    expect(result.duplicates).toBe(1);
    expect(result.rejectedByReason).toEqual({
      column_count: 1,
      unparsable_number: 1,
      ohlc_inconsistent: 1,
      symbol_invalid: 1,
      ts_unaligned: 1,
      unparsable_timestamp: 1,
      ts_in_future: 1,
    });
    expect(result.rejected).toBe(7);

    const stored = await pool.query<{ reason: string; n: string }>(
      'SELECT reason, count(*) AS n FROM backbone.rejected_rows WHERE run_id = $1 GROUP BY reason',
      [result.runId],
    );
    expect(Object.fromEntries(stored.rows.map((row) => [row.reason, Number(row.n)]))).toEqual(
      result.rejectedByReason,
    );
    expect(await count('SELECT count(*) AS n FROM market_data.bars')).toBe(2);
    // The SQL never reached a statement: the table it tried to drop is still there with the valid rows.
    expect(await count(`SELECT count(*) AS n FROM market_data.bars WHERE symbol <> 'EURUSD'`)).toBe(0);

    const again = await ingestFiles([file]);
    expect(again).toMatchObject({ inserted: 0, updated: 0, unchanged: 2, rejected: 7 });
    expect(await count('SELECT count(*) AS n FROM market_data.bars')).toBe(2);
  });

  it('finding 1.5: a NUL byte or control character in a CSV line rejects that line with a counted reason; the rest of the file is stored', async () => {
    await truncateAll();
    const file = join(scratch, 'control-characters.csv');
    await writeFile(
      file,
      [
        'symbol,timeframe,ts,open,high,low,close,volume',
        'EURUSD,1d,2026-11-16T00:00:00Z,1.1,1.2,1.0,1.15,100', // valid
        'EUR\u0000USD,1d,2026-11-17T00:00:00Z,1.1,1.2,1.0,1.15,100', // NUL in the symbol
        'EURUSD,1d,2026-11-18T00:00:00Z,1.1\u0000,1.2,1.0,1.15,100', // NUL in a price
        'EURUSD,1d\rGBPUSD,1d,2026-11-18T00:00:00Z,1.1,1.2,1.0,1.15,100', // a bare CR: two lines run together
        'EURUSD,1d,2026-11-19T00:00:00Z,1.1,1.2,1.0,1.15,1\u001b[2J00', // an escape sequence in the volume
        'EURUSD,1d,2026-11-20T00:00:00Z,1.2,1.3,1.1,1.25,100', // valid
        '',
      ].join('\n'),
    );
    const result = await ingestFiles([file]);
    expect(result).toMatchObject({ status: 'succeeded', inserted: 2, rejected: 4 });
    expect(result.rejectedByReason).toEqual({ control_character: 4 });
    const stored = await pool.query<{ reason: string; message: string }>(
      'SELECT reason, message FROM backbone.rejected_rows WHERE run_id = $1 ORDER BY id',
      [result.runId],
    );
    expect(stored.rows.map((row) => row.reason)).toEqual(Array(4).fill('control_character'));
    // Stored with the characters escaped, so an operator sees what the line held.
    expect(stored.rows[0]?.message).toMatch(
      /control-characters\.csv:3: symbol contains a control character: EUR\\u0000USD/,
    );
    expect(await count(`SELECT count(*) AS n FROM market_data.bars WHERE symbol = 'EURUSD'`)).toBe(2);
  });

  it('finding 1.5: an impossible date or time in a CSV line (2024-02-30, 2024-13-01, 24:00) is rejected with its reason, never rolled over to another day', async () => {
    await truncateAll();
    const file = join(scratch, 'impossible-dates.csv');
    await writeFile(
      file,
      [
        'symbol,timeframe,ts,open,high,low,close,volume',
        'EURUSD,1d,2024-02-29T00:00:00Z,1.1,1.2,1.0,1.15,100', // valid: 2024 is a leap year
        'EURUSD,1d,2024-02-30T00:00:00Z,1.1,1.2,1.0,1.15,100', // would become 1 March
        'EURUSD,1d,2023-02-29T00:00:00Z,1.1,1.2,1.0,1.15,100', // would become 1 March 2023
        'EURUSD,1d,2024-13-01T00:00:00Z,1.1,1.2,1.0,1.15,100',
        'EURUSD,1d,2024-04-31,1.1,1.2,1.0,1.15,100', // would become 1 May
        'EURUSD,1h,2024-03-04T24:00:00Z,1.1,1.2,1.0,1.15,100', // would become 5 March 00:00
        '',
      ].join('\n'),
    );
    const result = await ingestFiles([file]);
    expect(result).toMatchObject({ status: 'succeeded', inserted: 1, rejected: 5 });
    expect(result.rejectedByReason).toEqual({ impossible_timestamp: 5 });
    const stored = await pool.query<{ ts: Date }>('SELECT ts FROM market_data.bars ORDER BY ts');
    expect(stored.rows.map((row) => row.ts.toISOString())).toEqual(['2024-02-29T00:00:00.000Z']);
    const messages = await pool.query<{ message: string }>(
      'SELECT message FROM backbone.rejected_rows WHERE run_id = $1 ORDER BY id',
      [result.runId],
    );
    expect(messages.rows[0]?.message).toMatch(
      /impossible-dates\.csv:3: ts "2024-02-30T00:00:00Z" day 30 does not exist in February 2024/,
    );
  });

  it('counts a file that is not a bar CSV as a failed run and says why', async () => {
    const file = join(scratch, 'wrong-header.csv');
    await writeFile(file, 'sym,tf,time,o,h,l,c,v\nEURUSD,1d,2026-11-16T00:00:00Z,1,1,1,1,1\n');
    await expect(ingestFiles([file])).rejects.toThrow(/header must name the columns/);
  });
});

describe('the run record and the outbox event', () => {
  it('commits the ingest_runs row and one valid ingest-run event with the rows', async () => {
    await truncateAll();
    const result = await ingestFiles([join(FIXTURES, 'GBPUSD-1d.csv')]);
    const runs = await pool.query<{ status: string; inserted: string; quality: { gaps: number } }>(
      'SELECT status, inserted, quality FROM backbone.ingest_runs WHERE run_id = $1',
      [result.runId],
    );
    expect(runs.rows).toHaveLength(1);
    expect(runs.rows[0]).toMatchObject({ status: 'succeeded', inserted: String(result.inserted) });
    const outbox = await pool.query<{
      topic: string;
      key: string;
      payload: unknown;
      headers: Record<string, string>;
    }>('SELECT topic, key, payload, headers FROM backbone.outbox');
    expect(outbox.rows).toHaveLength(1);
    const [row] = outbox.rows;
    expect(row?.topic).toBe('backbone.ingest-events.v1');
    expect(row?.key).toBe(result.runId);
    const event = ingestRunEventSchema.parse(row?.payload);
    expect(event).toMatchObject({
      runId: result.runId,
      dimension: 'bars',
      source: 'csv',
      symbols: ['GBPUSD'],
      timeframe: '1d',
      counts: { inserted: 525, updated: 0, unchanged: 0, rejected: 0 },
    });
    expect(row?.headers['traceparent']).toBe(event.traceContext.traceparent);
  });

  it('commits neither the rows nor the event nor a succeeded run when the transaction fails', async () => {
    await truncateAll();
    // A real failure inside the window's transaction, after the rows were merged.
    await pool.query(`CREATE FUNCTION backbone.refuse_outbox() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION 'outbox refused by test'; END $$`);
    await pool.query(
      'CREATE TRIGGER refuse_outbox BEFORE INSERT ON backbone.outbox FOR EACH ROW EXECUTE FUNCTION backbone.refuse_outbox()',
    );
    try {
      await expect(ingestFiles([join(FIXTURES, 'GBPUSD-1d.csv')])).rejects.toThrow(/outbox refused by test/);
    } finally {
      await pool.query('DROP TRIGGER refuse_outbox ON backbone.outbox');
      await pool.query('DROP FUNCTION backbone.refuse_outbox()');
    }
    expect(await count('SELECT count(*) AS n FROM market_data.bars')).toBe(0);
    expect(await count('SELECT count(*) AS n FROM backbone.outbox')).toBe(0);
    const runs = await pool.query<{ status: string; inserted: string; error: string }>(
      'SELECT status, inserted, error FROM backbone.ingest_runs',
    );
    expect(runs.rows).toHaveLength(1);
    expect(runs.rows[0]).toMatchObject({ status: 'failed', inserted: '0' });
    expect(runs.rows[0]?.error).toMatch(/outbox refused by test/);

    const retry = await ingestFiles([join(FIXTURES, 'GBPUSD-1d.csv')]);
    expect(retry).toMatchObject({ status: 'succeeded', inserted: 525 });
    expect(await count('SELECT count(*) AS n FROM backbone.outbox')).toBe(1);
  });

  it('chunks a long file into windows, each committed with the run row, and publishes one event at the end', async () => {
    await truncateAll();
    const progress: number[] = [];
    const result = await runIngest(
      {
        pool,
        config: configWith({ batchRows: 1000 }),
        now: () => NOW,
        onProgress: (p) => progress.push(p.inserted),
      },
      parseIngestRequest({ provider: 'csv', files: [join(FIXTURES, 'EURUSD-1m.csv')] }, NOW),
    );
    expect(result).toMatchObject({ status: 'succeeded', inserted: 7200, windows: 8 });
    expect(progress).toEqual([1000, 2000, 3000, 4000, 5000, 6000, 7000, 7200]);
    expect(await count('SELECT count(*) AS n FROM backbone.outbox')).toBe(1);
    expect(await count(`SELECT count(*) AS n FROM backbone.ingest_runs WHERE status = 'succeeded'`)).toBe(1);
  });
});

/** A Yahoo v8 chart body (the documented shape) of SPY daily bars stamped at the 14:30 UTC open. */
function spyChart(days: string[], lastClose: number): unknown {
  const timestamp = days.map((day) => Date.parse(`${day}T14:30:00Z`) / 1000);
  const closes = days.map((_, index) => (index === days.length - 1 ? lastClose : 600 + index));
  return {
    chart: {
      result: [
        {
          meta: {
            symbol: 'SPY',
            gmtoffset: -18_000,
            exchangeTimezoneName: 'America/New_York',
            dataGranularity: '1d',
          },
          timestamp,
          indicators: {
            quote: [
              {
                open: closes.map((close) => close - 1),
                high: closes.map((close) => close + 2),
                low: closes.map((close) => close - 2),
                close: closes,
                volume: closes.map(() => 1_000_000),
              },
            ],
          },
        },
      ],
      error: null,
    },
  };
}

describe('HTTP providers', () => {
  it('stores a window of Yahoo bars, and a later run updates only the still-forming last bar', async () => {
    await truncateAll();
    const { createServer } = await import('node:http');
    let lastClose = 604;
    const days = ['2026-11-16', '2026-11-17', '2026-11-18', '2026-11-19', '2026-11-20'];
    const server = createServer((_request, response) => {
      response
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify(spyChart(days, lastClose)));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    const config = systemConfigSchema.parse({
      ingest: { providers: { yahoo: { baseUrl: `http://127.0.0.1:${port}`, maxRetries: 0 } } },
    });
    const request = parseIngestRequest(
      { provider: 'yahoo', symbols: 'SPY', timeframe: '1d', from: '2026-11-16', to: '2026-11-20' },
      NOW,
    );
    try {
      const first = await runIngest({ pool, config, now: () => NOW }, request);
      expect(first).toMatchObject({ status: 'succeeded', inserted: 5, updated: 0, missingSymbols: [] });
      expect(first.quality.series[0]).toMatchObject({
        symbol: 'SPY',
        calendar: 'nyse',
        expectedBars: 5,
        coverage: 1,
      });

      lastClose = 604.5; // the provider revised the last bar
      const second = await runIngest({ pool, config, now: () => NOW }, request);
      expect(second).toMatchObject({ status: 'succeeded', inserted: 0, updated: 1, unchanged: 4 });
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
    const last = await pool.query<{ close: number; revision: number }>(
      `SELECT close, revision FROM market_data.bars WHERE symbol = 'SPY' AND ts = '2026-11-20T00:00:00Z'`,
    );
    expect(last.rows).toEqual([{ close: 604.5, revision: 1 }]);
  });

  it('records a run whose every symbol failed as failed, with a retriable error for a 503', async () => {
    await truncateAll();
    const { createServer } = await import('node:http');
    const server = createServer((_request, response) => {
      response.writeHead(503, { 'content-type': 'text/html' }).end('<html>busy</html>');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    const config = systemConfigSchema.parse({
      ingest: { providers: { yahoo: { baseUrl: `http://127.0.0.1:${port}`, maxRetries: 0 } } },
    });
    try {
      const request = parseIngestRequest(
        { provider: 'yahoo', symbols: 'EURUSD', timeframe: '1d', from: '2026-11-01', to: '2026-11-20' },
        NOW,
      );
      const failure = await runIngest({ pool, config, now: () => NOW }, request).catch(
        (error: unknown) => error,
      );
      expect(failure).toBeInstanceOf(IngestFailedError);
      expect(failure).toMatchObject({ failedSymbols: ['EURUSD'], retriable: true });
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
    expect(await count(`SELECT count(*) AS n FROM backbone.ingest_runs WHERE status = 'failed'`)).toBe(1);
    expect(await count('SELECT count(*) AS n FROM backbone.outbox')).toBe(0);
  });
});

describe('multi-source merge (yahoo + csv)', () => {
  it('stores each bar from the most trusted source that has it, counts drift, and a second run changes nothing', async () => {
    await truncateAll();
    // Yahoo (recorded) has 16, 17, 19 and 20 November; the csv file 16 to 19. On the 16th and
    // 19th they agree, on the 17th they drift by 1.2 %; the 18th is only in the csv file.
    const yahoo = await startReplayServer(['yahoo/eurusd-1d-missing-day.json']);
    const directory = await mkdtemp(join(scratch, 'merge-'));
    await writeFile(
      join(directory, 'EURUSD-1d.csv'),
      [
        'symbol,timeframe,ts,open,high,low,close,volume',
        'EURUSD,1d,2026-11-16T00:00:00Z,1.08300,1.08650,1.08110,1.08420,0',
        'EURUSD,1d,2026-11-17T00:00:00Z,1.08410,1.09600,1.08040,1.09500,0',
        'EURUSD,1d,2026-11-18T00:00:00Z,1.08230,1.08800,1.08040,1.08600,0',
        'EURUSD,1d,2026-11-19T00:00:00Z,1.08567,1.08932,1.08380,1.08701,0',
        'EURUSD,1d,2026-11-19 garbage line',
        '',
      ].join('\n'),
    );
    const config = systemConfigSchema.parse({
      ingest: {
        providers: { yahoo: { baseUrl: yahoo.url, maxRetries: 0 }, csv: { directory } },
      },
    });
    const request = parseIngestRequest(
      {
        provider: 'yahoo',
        symbols: 'EURUSD',
        timeframe: '1d',
        from: '2026-11-16',
        to: '2026-11-20',
        mergeWith: 'csv',
        driftThresholdPct: '0.5',
      },
      NOW,
    );
    try {
      const first = await runIngest({ pool, config, now: () => NOW }, request);
      expect(first).toMatchObject({
        status: 'succeeded',
        inserted: 5,
        updated: 0,
        rejected: 1,
        rejectedByReason: { column_count: 1 },
      });
      expect(first.quality.merge).toMatchObject({
        sources: ['yahoo', 'csv'],
        driftThresholdPct: 0.5,
        rowsBySource: { yahoo: 4, csv: 1 },
        superseded: 3,
        drift: 1,
      });
      expect(first.quality.merge?.driftSamples).toEqual([
        expect.objectContaining({
          ts: '2026-11-17T00:00:00Z',
          chosen: { source: 'yahoo', close: 1.08233 },
          other: { source: 'csv', close: 1.095 },
        }),
      ]);
      expect(first.quality.failedSources).toBeUndefined();

      const stored = await pool.query<{ day: string; source: string; close: number }>(
        `SELECT to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day, source, close
         FROM market_data.bars WHERE symbol = 'EURUSD' ORDER BY ts`,
      );
      expect(stored.rows).toEqual([
        { day: '2026-11-16', source: 'yahoo', close: 1.08412 },
        { day: '2026-11-17', source: 'yahoo', close: 1.08233 },
        { day: '2026-11-18', source: 'csv', close: 1.086 },
        { day: '2026-11-19', source: 'yahoo', close: 1.08701 },
        { day: '2026-11-20', source: 'yahoo', close: 1.08455 },
      ]);
      // The drift count reaches the ingest-run event's quality too.
      const outbox = await pool.query<{ payload: unknown }>('SELECT payload FROM backbone.outbox');
      expect(outbox.rows).toHaveLength(1);
      expect(ingestRunEventSchema.parse(outbox.rows[0]?.payload).quality).toMatchObject({
        drift: 1,
        superseded: 3,
        failedSources: 0,
      });
      const before = await tableDigest();

      const second = await runIngest({ pool, config, now: () => NOW }, request);
      expect(second).toMatchObject({ status: 'succeeded', inserted: 0, updated: 0, unchanged: 5 });
      expect(second.quality.merge?.drift).toBe(1);
      expect(await tableDigest()).toEqual(before);
    } finally {
      await yahoo.close();
    }
  });

  it('goes on with the sources that answer when one fails, records the failed source, and counts a bad csv line once', async () => {
    await truncateAll();
    const directory = await mkdtemp(join(scratch, 'merge-down-'));
    await writeFile(
      join(directory, 'EURUSD-1d.csv'),
      [
        'symbol,timeframe,ts,open,high,low,close,volume',
        'EURUSD,1d,2026-11-16T00:00:00Z,1.083,1.0865,1.0811,1.0842,0',
        'EURUSD,1d,2026-11-17T00:00:00Z,1.0842,1.0865,1.0811,1.0823,0',
        'EURUSD,1d,2026-11-18T00:00:00Z,1.0823,abc,1.0811,1.0857,0',
        '',
      ].join('\n'),
    );
    const config = systemConfigSchema.parse({
      ingest: {
        // One day per window: the csv file is read for each window, its bad line counted once.
        batchRows: 1,
        // Port 1 refuses connections: Yahoo fails, the merge goes on with csv alone.
        providers: { yahoo: { baseUrl: 'http://127.0.0.1:1', maxRetries: 0 }, csv: { directory } },
      },
    });
    const request = parseIngestRequest(
      {
        provider: 'yahoo',
        symbols: 'EURUSD',
        timeframe: '1d',
        from: '2026-11-16',
        to: '2026-11-18',
        mergeWith: 'csv',
      },
      NOW,
    );
    const result = await runIngest({ pool, config, now: () => NOW }, request);
    expect(result).toMatchObject({
      status: 'succeeded',
      windows: 3,
      inserted: 2,
      rejected: 1,
      rejectedByReason: { unparsable_number: 1 },
      failedSymbols: [],
    });
    expect(result.quality.merge).toMatchObject({
      rowsBySource: { yahoo: 0, csv: 2 },
      drift: 0,
      driftThresholdPct: 0.5,
    });
    // Yahoo failed in each of the three windows; its (empty) answers were left out.
    expect(result.quality.failedSources?.map((failure) => [failure.provider, failure.symbols])).toEqual([
      ['yahoo', ['EURUSD']],
      ['yahoo', ['EURUSD']],
      ['yahoo', ['EURUSD']],
    ]);
    expect(await count(`SELECT count(*) AS n FROM market_data.bars WHERE source = 'csv'`)).toBe(2);
    expect(await count('SELECT count(*) AS n FROM backbone.rejected_rows')).toBe(1);
  });
});

describe('runIngest into a compressed chunk (TimescaleDB)', () => {
  it('a re-sent CSV with corrections and late bars updates and inserts into a chunk already compressed', async () => {
    await truncateAll();
    const mode = await pool.query<{ mode: string }>(
      'SELECT mode FROM backbone.schema_migrations ORDER BY version LIMIT 1',
    );
    expect(mode.rows).toEqual([{ mode: 'timescaledb' }]);
    // 2026-11-05 starts a 7-day bar chunk (TimescaleDB aligns them to the Unix epoch: Thursdays)
    // that ended a week before NOW.
    const start = Date.parse('2026-11-05T00:00:00Z');
    const line = (minute: number, close: number) =>
      `EURUSD,1m,${new Date(start + minute * 60_000).toISOString()},1.1,1.2,1.0,${String(close)},100`;
    const header = 'symbol,timeframe,ts,open,high,low,close,volume';
    const history = join(scratch, 'compressed-history.csv');
    await writeFile(history, [header, ...Array.from({ length: 600 }, (_, m) => line(m, 1.1)), ''].join('\n'));
    expect(await ingestFiles([history])).toMatchObject({ status: 'succeeded', inserted: 600 });
    const compressed = await pool.query<{ chunk: string }>(
      `SELECT compress_chunk(c)::text AS chunk FROM show_chunks('market_data.bars') c`,
    );
    expect(compressed.rows).toHaveLength(1);

    // Five corrected closes, five late minutes, five unchanged lines.
    const resend = join(scratch, 'compressed-resend.csv');
    await writeFile(
      resend,
      [
        header,
        ...[10, 11, 12, 13, 14].map((m) => line(m, 1.15)),
        ...[600, 601, 602, 603, 604].map((m) => line(m, 1.1)),
        ...[20, 21, 22, 23, 24].map((m) => line(m, 1.1)),
        '',
      ].join('\n'),
    );
    const result = await ingestFiles([resend]);
    expect(result).toMatchObject({ status: 'succeeded', inserted: 5, updated: 5, unchanged: 5, rejected: 0 });
    expect(await count('SELECT count(*) AS n FROM market_data.bars')).toBe(605);
    expect(
      await count('SELECT count(*) AS n FROM market_data.bars WHERE close = 1.15 AND revision = 1'),
    ).toBe(5);
    const chunk = await pool.query<{ is_compressed: boolean }>(
      `SELECT is_compressed FROM timescaledb_information.chunks WHERE chunk_schema || '.' || chunk_name = $1`,
      [compressed.rows[0]?.chunk],
    );
    expect(chunk.rows).toEqual([{ is_compressed: true }]);
  });
});
