import { systemConfigSchema, type SystemConfig } from '@backbone/config';
import { ingestRunEventSchema } from '@backbone/contracts';
import { createPool, migrate } from '@backbone/db';
import { startReplayServer, type ReplayServer } from '@backbone/market-sources/test-support';
import { createTestDatabase, type TestDatabase } from '@backbone/testing';
import type pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { IngestFailedError } from './errors/ingest-failed-error.ts';
import { IngestUsageError } from './errors/ingest-usage-error.ts';
import { parseIngestRequest } from './request.ts';
import { runIngest } from './run-ingest.ts';

const NOW = new Date('2026-11-26T12:00:00Z');
const API_KEY = 'k3y-for-the-replay-0000000000001';
/** The key bad-api-key-400.json answers "not registered" for. */
const BAD_KEY = 'unregistered0000000000000000000x';

let db: TestDatabase;
let pool: pg.Pool;
let fred: ReplayServer;

beforeAll(async () => {
  db = await createTestDatabase('t_ingest_macro', { migrate });
  pool = createPool({ url: db.url, poolSize: 2 }, { applicationName: 'ingest-macro-int-test' });
  fred = await startReplayServer(
    [
      'bad-api-key-400.json',
      'releases-dates-q4.json',
      'payems-2026-10-02.json',
      'payems-2026-11-06.json',
      'cpiaucsl-2026-10-14.json',
      'cpiaucsl-2026-11-12.json',
      'unrate-2026-10-02.json',
      'unrate-2026-11-06.json',
      'releases-dates-impossible-date.json',
      'payems-2026-09-04-impossible-date.json',
    ].map((name) => `fred/${name}`),
  );
});
afterAll(async () => {
  await fred.close();
  await pool.end();
  await db.drop();
});
beforeEach(async () => {
  await pool.query(
    'TRUNCATE market_data.macro_events, backbone.ingest_runs, backbone.outbox, backbone.rejected_rows',
  );
});

function configWith(apiKey: string | undefined): SystemConfig {
  return systemConfigSchema.parse({
    ingest: {
      providers: {
        fred: {
          baseUrl: fred.url,
          requestsPerSecond: 1000,
          maxRetries: 0,
          ...(apiKey === undefined ? {} : { apiKey }),
        },
      },
    },
  });
}

const q4 = () =>
  parseIngestRequest(
    { provider: 'fred', symbols: 'PAYEMS,CPIAUCSL,UNRATE', from: '2026-10-01', to: '2026-12-31' },
    NOW,
  );

async function rows<T extends pg.QueryResultRow>(sql: string): Promise<T[]> {
  return (await pool.query<T>(sql)).rows;
}

describe('runIngest --provider fred', () => {
  it('finding 1.5: an impossible date in a FRED release entry or observation rejects that event with its reason, not the whole page', async () => {
    const result = await runIngest(
      { pool, config: configWith(API_KEY), now: () => NOW },
      parseIngestRequest({ provider: 'fred', symbols: 'PAYEMS', from: '2026-09-01', to: '2027-03-31' }, NOW),
    );
    expect(result).toMatchObject({
      status: 'succeeded',
      inserted: 2,
      rejected: 2,
      rejectedByReason: { impossible_timestamp: 2 },
    });
    const stored = await rows<{ event_id: string }>(
      'SELECT event_id FROM market_data.macro_events ORDER BY ts',
    );
    expect(stored.map((row) => row.event_id)).toEqual(['PAYEMS@2026-10-02', 'PAYEMS@2027-03-05']);
    const rejected = await rows<{ reason: string; message: string }>(
      'SELECT reason, message FROM backbone.rejected_rows ORDER BY id',
    );
    expect(rejected).toEqual([
      {
        reason: 'impossible_timestamp',
        message:
          'fred PAYEMS@2026-09-04 observation 0: date "2026-08-32": day 32 does not exist in August 2026',
      },
      {
        reason: 'impossible_timestamp',
        message: 'fred releases/dates[2] release 50: "2027-02-30": day 30 does not exist in February 2027',
      },
    ]);
  });

  it('stores every release exactly once, rejects a corrupted value with its reason, and changes nothing on a re-run', async () => {
    const first = await runIngest({ pool, config: configWith(API_KEY), now: () => NOW }, q4());
    expect(first).toMatchObject({
      status: 'succeeded',
      inserted: 7,
      updated: 0,
      unchanged: 0,
      rejected: 1,
      rejectedByReason: { macro_actual_invalid: 1 },
      duplicates: 0,
      // Newest published value: PAYEMS and UNRATE on 2026-11-06 13:30 UTC.
      freshnessSeconds: (NOW.getTime() - Date.parse('2026-11-06T13:30:00Z')) / 1000,
      missingSymbols: [],
    });
    const stored = await rows<{ event_id: string; ts: Date; actual: number | null; previous: number | null }>(
      'SELECT event_id, ts, actual, previous FROM market_data.macro_events ORDER BY ts, event_id',
    );
    expect(stored.map((row) => [row.event_id, row.ts.toISOString(), row.actual, row.previous])).toEqual([
      ['PAYEMS@2026-10-02', '2026-10-02T13:30:00.000Z', 159872, 159745],
      ['CPIAUCSL@2026-10-14', '2026-10-14T13:30:00.000Z', 331.482, 330.795],
      ['PAYEMS@2026-11-06', '2026-11-06T13:30:00.000Z', 160013, 159861],
      ['UNRATE@2026-11-06', '2026-11-06T13:30:00.000Z', 4.4, 4.3],
      // FRED's "." (not yet published) is stored as null; the scheduled release as well.
      ['CPIAUCSL@2026-11-12', '2026-11-12T13:30:00.000Z', null, 331.482],
      ['PAYEMS@2026-12-04', '2026-12-04T13:30:00.000Z', null, null],
      ['UNRATE@2026-12-04', '2026-12-04T13:30:00.000Z', null, null],
    ]);
    const rejected = await rows<{ reason: string; message: string }>(
      'SELECT reason, message FROM backbone.rejected_rows',
    );
    expect(rejected.map((row) => row.reason)).toEqual(['macro_actual_invalid']);
    expect(rejected[0]?.message).toMatch(/^UNRATE@2026-10-02: actual /);

    const digest =
      "SELECT md5(string_agg(e::text, '|' ORDER BY source, event_id, ts)) AS d FROM market_data.macro_events e";
    const before = await rows<{ d: string }>(digest);
    const second = await runIngest({ pool, config: configWith(API_KEY), now: () => NOW }, q4());
    expect(second).toMatchObject({ status: 'succeeded', inserted: 0, updated: 0, unchanged: 7, rejected: 1 });
    expect(await rows<{ d: string }>(digest)).toEqual(before);

    const runs = await rows<{
      run_id: string;
      dimension: string;
      source: string;
      status: string;
      inserted: string;
    }>(
      'SELECT run_id, dimension, source, status, inserted FROM backbone.ingest_runs ORDER BY started_at, inserted DESC',
    );
    expect(runs.map((run) => [run.dimension, run.source, run.status, Number(run.inserted)])).toEqual([
      ['macro', 'fred', 'succeeded', 7],
      ['macro', 'fred', 'succeeded', 0],
    ]);
    const outbox = await rows<{ key: string; payload: unknown }>(
      'SELECT key, payload FROM backbone.outbox ORDER BY id',
    );
    expect(outbox.map((row) => row.key)).toEqual([first.runId, second.runId]);
    const event = ingestRunEventSchema.parse(outbox[0]?.payload);
    expect(event).toMatchObject({
      dimension: 'macro',
      source: 'fred',
      symbols: ['CPIAUCSL', 'UNRATE', 'PAYEMS'],
      counts: { inserted: 7, updated: 0, unchanged: 0, rejected: 1 },
      rejectedByReason: { macro_actual_invalid: 1 },
    });
    // The key went to FRED on every request and nowhere else.
    expect(fred.requests.every((request) => request.query['api_key'] === API_KEY)).toBe(true);
    expect(JSON.stringify({ runs, outbox, rejected })).not.toContain(API_KEY);
  });

  it('fails clearly on a rejected API key, without ever showing the key', async () => {
    const error = await runIngest({ pool, config: configWith(BAD_KEY), now: () => NOW }, q4()).then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(IngestFailedError);
    const failure = error as IngestFailedError;
    expect(failure.message).toMatch(/^fred: .*400.*api_key is not registered/);
    expect(failure).toMatchObject({ retriable: false, failedSymbols: ['CPIAUCSL', 'UNRATE', 'PAYEMS'] });
    expect(`${failure.message} ${String(failure.cause)} ${failure.stack ?? ''}`).not.toContain(BAD_KEY);

    const runs = await rows<{ status: string; error: string; dimension: string }>(
      'SELECT status, error, dimension FROM backbone.ingest_runs',
    );
    expect(runs).toEqual([{ status: 'failed', dimension: 'macro', error: failure.message }]);
    expect(await rows('SELECT 1 FROM market_data.macro_events')).toEqual([]);
    expect(await rows('SELECT 1 FROM backbone.outbox')).toEqual([]);
  });

  it('names the missing API key as bad config before calling FRED', async () => {
    const asked = fred.requests.length;
    await expect(runIngest({ pool, config: configWith(undefined), now: () => NOW }, q4())).rejects.toThrow(
      IngestUsageError,
    );
    await expect(runIngest({ pool, config: configWith(undefined), now: () => NOW }, q4())).rejects.toThrow(
      /ingest\.providers\.fred: has no API key; --provider fred needs one/,
    );
    expect(fred.requests.length).toBe(asked);
  });
});
