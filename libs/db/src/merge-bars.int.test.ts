import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { NotInTransactionError } from './errors.ts';
import { mergeBars, mergeBarsIsolating, type BarRow } from './merge-bars.ts';
import { migrate } from './migrate.ts';
import { createPool, withTransaction } from './pool.ts';
import { parseRollupsRefreshed, refreshRollups, ROLLUPS_REFRESHED_CHANNEL } from './storage-maintenance.ts';
import { insertOutboxEvent, OUTBOX_CHANNEL, recordIngestRun, recordRejectedRows } from './system-writes.ts';
import {
  createTestDatabase,
  DATABASE_SERVERS,
  databaseServerUrl,
  type TestDatabase,
} from './test-support/database.ts';
import { waitFor, waitForFirstJobRuns } from '@backbone/testing';

// Both storage modes, each on its real server: the stack's TimescaleDB and the machine's plain
// PostgreSQL. What only one mode has (partitions, chunks, compression) is tested in that mode.
describe.each(DATABASE_SERVERS)('on the %s server', (server) => {
  let db: TestDatabase;
  let pool: pg.Pool;

  beforeAll(async () => {
    db = await createTestDatabase(databaseServerUrl(server), 'merge');
    const client = await db.connect();
    await migrate(client);
    await waitForFirstJobRuns(client);
    pool = createPool({ url: db.url, poolSize: 4 }, { applicationName: 'db-merge-test' });
  });
  afterAll(async () => {
    await pool.end();
    await db.drop();
  });
  beforeEach(async () => {
    await pool.query('TRUNCATE market_data.bars, market_data.bars_1h, market_data.bars_1d');
  });

  const T0 = Date.parse('2026-11-02T00:00:00Z');

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

  async function storedBars(): Promise<
    { ts: Date; close: number; source: string; ingest_run_id: string | null }[]
  > {
    const result = await pool.query<{
      ts: Date;
      close: number;
      source: string;
      ingest_run_id: string | null;
    }>('SELECT ts, close, source, ingest_run_id FROM market_data.bars ORDER BY symbol, ts');
    return result.rows;
  }

  describe('mergeBarsIsolating', () => {
    it('finding 1.2: bars the database refuses (year 0, a CHECK constraint, a NUL) are isolated by bisection, the others commit', async () => {
      // A constraint the contract knows nothing about: only the database can refuse this bar.
      await pool.query(
        'ALTER TABLE market_data.bars ADD CONSTRAINT test_volume_cap CHECK (volume < 1000000)',
      );
      try {
        const batch = Array.from({ length: 50 }, (_, minute) => bar(minute));
        // Year 0 does not exist in timestamptz: COPY itself fails (22008) for the whole batch.
        batch[5] = bar(5, { ts: '0000-01-01T00:00:00Z' });
        batch[17] = bar(17, { volume: 5_000_000 });
        batch[40] = bar(40, { symbol: 'BAD\u0000SYM' });
        const result = await withTransaction(pool, (client) =>
          mergeBarsIsolating(client, batch, { runId: 'run-isolate' }),
        );
        expect(result.refused.map(({ index }) => index)).toEqual([5, 17, 40]);
        expect(result.refused.map(({ error }) => error.message)).toEqual([
          expect.stringMatching(/date\/time field value out of range/),
          expect.stringMatching(/test_volume_cap/),
          expect.stringMatching(/NUL/),
        ]);
        expect(result.counts).toMatchObject({ inserted: 47, updated: 0, unchanged: 0 });
        expect((await storedBars()).length).toBe(47);
      } finally {
        await pool.query('ALTER TABLE market_data.bars DROP CONSTRAINT test_volume_cap');
      }
    });

    it('throws a failure no row is at fault for (permanent) instead of blaming rows', async () => {
      const failure = withTransaction(pool, async (client) => {
        await client.query('SET LOCAL search_path = pg_catalog');
        await client.query('ALTER TABLE market_data.bars RENAME TO bars_renamed');
        return mergeBarsIsolating(client, [bar(0), bar(1)]);
      });
      await expect(failure).rejects.toThrow(/market_data\.bars/);
      expect(await storedBars()).toEqual([]);
    });
  });

  describe('mergeBars', () => {
    it('inserts a new batch, then counts the same batch as unchanged without rewriting it', async () => {
      const batch = [bar(0), bar(1), bar(2, { symbol: 'GBPUSD' })];
      const first = await withTransaction(pool, (client) => mergeBars(client, batch, { runId: 'run-1' }));
      expect(first).toEqual({ inserted: 3, updated: 0, unchanged: 0, duplicatesInBatch: 0 });

      const second = await withTransaction(pool, (client) => mergeBars(client, batch, { runId: 'run-2' }));
      expect(second).toEqual({ inserted: 0, updated: 0, unchanged: 3, duplicatesInBatch: 0 });
      // Unchanged rows keep the run that wrote them: they were not rewritten.
      expect((await storedBars()).map((row) => row.ingest_run_id)).toEqual(['run-1', 'run-1', 'run-1']);
    });

    it('updates exactly the bar whose close changed', async () => {
      await withTransaction(pool, (client) => mergeBars(client, [bar(0), bar(1)], { runId: 'run-1' }));
      const counts = await withTransaction(pool, (client) =>
        mergeBars(client, [bar(0), bar(1, { close: 1.0845 })], { runId: 'run-2' }),
      );
      expect(counts).toEqual({ inserted: 0, updated: 1, unchanged: 1, duplicatesInBatch: 0 });
      const rows = await storedBars();
      expect(rows.map((row) => [row.close, row.ingest_run_id])).toEqual([
        [1.0844, 'run-1'],
        [1.0845, 'run-2'],
      ]);
    });

    it('keeps the last of several bars with the same key in one batch', async () => {
      const counts = await withTransaction(pool, (client) =>
        mergeBars(client, [
          bar(0, { close: 1.1 }),
          bar(1),
          bar(0, { close: 1.2 }),
          bar(0, { close: 1.0843 }),
        ]),
      );
      expect(counts).toEqual({ inserted: 2, updated: 0, unchanged: 0, duplicatesInBatch: 2 });
      expect((await storedBars()).map((row) => row.close)).toEqual([1.0843, 1.0844]);
    });

    it('leaves nothing visible when the transaction rolls back', async () => {
      const failure = withTransaction(pool, async (client) => {
        await mergeBars(client, [bar(0), bar(1)]);
        await insertOutboxEvent(client, { topic: 'backbone.ingest-events.v1', key: 'k', payload: { n: 2 } });
        throw new Error('provider failed after the write');
      });
      await expect(failure).rejects.toThrow('provider failed after the write');
      expect(await storedBars()).toEqual([]);
      const outbox = await pool.query(`SELECT 1 FROM backbone.outbox WHERE key = 'k'`);
      expect(outbox.rows).toEqual([]);
    });

    it('round-trips awkward text through COPY: quotes, tabs, newlines, backslashes, \\N', async () => {
      const awkward = `it's "quoted"\ttab\nnewline\r\\backslash \\N end, comma;`;
      await withTransaction(pool, (client) =>
        mergeBars(client, [bar(0, { source: awkward, symbol: 'BRK.B' })]),
      );
      const rows = await pool.query<{ symbol: string; source: string }>(
        'SELECT symbol, source FROM market_data.bars',
      );
      expect(rows.rows).toEqual([{ symbol: 'BRK.B', source: awkward }]);
    });

    it('creates the partition (plain) or chunk (TimescaleDB) a backfill needs, years before the premade ones', async () => {
      const old = { ts: '2019-03-14T00:00:00Z', timeframe: '1d' };
      const counts = await withTransaction(pool, (client) => mergeBars(client, [bar(0, old)]));
      expect(counts.inserted).toBe(1);
      const partition = await pool.query<{ name: string }>(
        `SELECT tableoid::regclass::text AS name FROM market_data.bars WHERE ts = $1`,
        [old.ts],
      );
      if (server === 'plain') {
        expect(partition.rows[0]?.name).toMatch(/^market_data\.bars_p2019031\d$/);
      } else {
        const chunk = await pool.query<{ name: string }>(
          `SELECT chunk_schema || '.' || chunk_name AS name FROM timescaledb_information.chunks
           WHERE hypertable_name = 'bars' AND range_start <= $1 AND $1 < range_end`,
          [old.ts],
        );
        expect(chunk.rows).toEqual([{ name: partition.rows[0]?.name }]);
      }
    });

    it('finding 1.4: a stray bar two years before the others creates its own partition, not one per week in between', async () => {
      const partitions = async (): Promise<number> => {
        const result = await pool.query<{ count: number }>(
          server === 'plain'
            ? `SELECT count(*)::int AS count FROM backbone.time_partitions('market_data.bars')`
            : `SELECT count(*)::int AS count FROM timescaledb_information.chunks WHERE hypertable_name = 'bars'`,
        );
        return result.rows[0]?.count ?? 0;
      };
      const before = await partitions();
      // 2024-11-04 is ~104 weekly partitions before T0 (2026-11-02), which is premade.
      const stray = bar(0, { ts: '2024-11-04T00:00:00Z', timeframe: '1d' });
      const counts = await withTransaction(pool, (client) => mergeBars(client, [bar(0), stray, bar(1)]));
      expect(counts.inserted).toBe(3);
      expect((await partitions()) - before).toBeLessThanOrEqual(2);
    });

    it('refuses to run outside a transaction, naming the fix', async () => {
      const client = await pool.connect();
      try {
        await expect(mergeBars(client, [bar(0)])).rejects.toBeInstanceOf(NotInTransactionError);
      } finally {
        client.release();
      }
      expect(await storedBars()).toEqual([]);
    });

    it('rejects a bar that cannot be stored, naming its position and field', async () => {
      const failure = withTransaction(pool, (client) =>
        mergeBars(client, [bar(0), bar(1, { close: Number.NaN })]),
      );
      await expect(failure).rejects.toThrow('row 1: close is not a finite number');
    });

    it('measures throughput for 100k bars (reported, not asserted)', async () => {
      const symbols = [
        'EURUSD',
        'GBPUSD',
        'USDJPY',
        'AUDUSD',
        'USDCHF',
        'USDCAD',
        'NZDUSD',
        'EURGBP',
        'EURJPY',
        'XAUUSD',
      ];
      const batch = Array.from({ length: 100_000 }, (_, i) =>
        bar(Math.floor(i / symbols.length), {
          symbol: symbols[i % symbols.length] ?? 'EURUSD',
          close: 1 + (i % 97) / 1000,
        }),
      );
      const started = performance.now();
      const first = await withTransaction(pool, (client) => mergeBars(client, batch));
      const insertSeconds = (performance.now() - started) / 1000;
      const again = performance.now();
      const second = await withTransaction(pool, (client) => mergeBars(client, batch));
      const unchangedSeconds = (performance.now() - again) / 1000;
      expect(first.inserted).toBe(100_000);
      expect(second.unchanged).toBe(100_000);
      console.log(
        `mergeBars 100k: insert ${Math.round(100_000 / insertSeconds)} rows/s (${insertSeconds.toFixed(2)} s), ` +
          `unchanged re-run ${Math.round(100_000 / unchangedSeconds)} rows/s (${unchangedSeconds.toFixed(2)} s)`,
      );
    }, 120_000);
  });

  describe('system writes', () => {
    it('wakes a LISTENer on outbox insert only after commit', async () => {
      const listener = new pg.Client({ connectionString: db.url });
      await listener.connect();
      const notifications: string[] = [];
      listener.on('notification', (message) => notifications.push(message.channel));
      await listener.query(`LISTEN ${OUTBOX_CHANNEL}`);
      try {
        const id = await withTransaction(pool, (client) =>
          insertOutboxEvent(client, {
            topic: 'backbone.ingest-events.v1',
            key: 'run-9',
            payload: { inserted: 3 },
          }),
        );
        expect(id).toMatch(/^\d+$/);
        await waitFor(() => notifications.length > 0, { description: 'the outbox notification' });
        expect(notifications).toEqual([OUTBOX_CHANNEL]);
        const row = await pool.query(
          'SELECT topic, key, payload, headers, published_at FROM backbone.outbox WHERE id = $1',
          [id],
        );
        expect(row.rows[0]).toEqual({
          topic: 'backbone.ingest-events.v1',
          key: 'run-9',
          payload: { inserted: 3 },
          headers: {},
          published_at: null,
        });
      } finally {
        await listener.end();
      }
    });

    it('records an ingest run (insert, then update by runId) and its rejected rows', async () => {
      const startedAt = new Date('2026-11-26T15:00:00Z');
      const run = {
        runId: 'run-rec',
        dimension: 'bars',
        source: 'csv',
        status: 'running' as const,
        symbols: ['EURUSD'],
        inserted: 0,
        updated: 0,
        unchanged: 0,
        rejected: 0,
        startedAt,
      };
      await withTransaction(pool, async (client) => {
        await recordIngestRun(client, run);
        await recordIngestRun(client, {
          ...run,
          status: 'succeeded',
          inserted: 5,
          rejected: 2,
          quality: { coverage: 0.9 },
        });
        const stored = await recordRejectedRows(client, [
          {
            runId: 'run-rec',
            source: 'csv',
            reason: 'high_below_low',
            message: 'high < low',
            raw: 'EURUSD,1,0.5',
          },
          { runId: 'run-rec', source: 'csv', reason: 'nan_price', message: 'close is NaN' },
        ]);
        expect(stored).toBe(2);
      });
      const runs = await pool.query(
        'SELECT status, inserted, rejected, quality FROM backbone.ingest_runs WHERE run_id = $1',
        ['run-rec'],
      );
      expect(runs.rows).toEqual([
        { status: 'succeeded', inserted: '5', rejected: '2', quality: { coverage: 0.9 } },
      ]);
      const rejected = await pool.query(
        'SELECT reason, raw FROM backbone.rejected_rows WHERE run_id = $1 ORDER BY id',
        ['run-rec'],
      );
      expect(rejected.rows).toEqual([
        { reason: 'high_below_low', raw: 'EURUSD,1,0.5' },
        { reason: 'nan_price', raw: null },
      ]);
    });
  });

  describe('refreshRollups', () => {
    it('rolls 1m bars into 1h and 1d buckets and follows later changes', async () => {
      const hour = [0, 1, 2].map((m) =>
        bar(m, { open: 1 + m, high: 2 + m, low: 0.5, close: 1.5 + m, volume: 10 }),
      );
      await withTransaction(pool, (client) => mergeBars(client, [...hour, bar(60, { volume: 5 })]));
      const client = await pool.connect();
      try {
        await refreshRollups(client, { from: new Date(T0), to: new Date(T0 + 2 * 3_600_000) });
      } finally {
        client.release();
      }
      const hourly = await pool.query(
        'SELECT ts, open, high, low, close, volume, bar_count FROM market_data.bars_1h ORDER BY ts',
      );
      expect(hourly.rows).toEqual([
        { ts: new Date(T0), open: 1, high: 4, low: 0.5, close: 3.5, volume: 30, bar_count: '3' },
        {
          ts: new Date(T0 + 3_600_000),
          open: 1.0841,
          high: 1.0846,
          low: 1.0839,
          close: 1.0844,
          volume: 5,
          bar_count: '1',
        },
      ]);
      const daily = await pool.query('SELECT ts, volume, bar_count FROM market_data.bars_1d');
      expect(daily.rows).toEqual([{ ts: new Date(T0), volume: 35, bar_count: '4' }]);

      await pool.query(`DELETE FROM market_data.bars WHERE ts >= $1`, [new Date(T0 + 3_600_000)]);
      const again = await pool.connect();
      try {
        await refreshRollups(again, { from: new Date(T0), to: new Date(T0 + 2 * 3_600_000) });
      } finally {
        again.release();
      }
      const after = await pool.query('SELECT count(*)::int AS n FROM market_data.bars_1h');
      expect(after.rows[0]).toEqual({ n: 1 });
    });

    it('announces each refresh on its channel (on plain PostgreSQL at commit when run inside a transaction)', async () => {
      const listener = new pg.Client({ connectionString: db.url });
      await listener.connect();
      const payloads: (string | undefined)[] = [];
      listener.on('notification', (message) => {
        if (message.channel === ROLLUPS_REFRESHED_CHANNEL) payloads.push(message.payload);
      });
      try {
        await listener.query(`LISTEN ${ROLLUPS_REFRESHED_CHANNEL}`);
        const window = { from: new Date(T0 + 60_000), to: new Date(T0 + 120_000) };
        if (server === 'plain') {
          await withTransaction(pool, async (client) => {
            await mergeBars(client, [bar(0)]);
            const result = await refreshRollups(client, window);
            // Not before the rows it announces are visible: a round trip on the listening session
            // would have delivered a notification already sent.
            await listener.query('SELECT 1');
            expect(payloads).toEqual([]);
            return result;
          });
        } else {
          // refresh_continuous_aggregate refuses to run inside a transaction block.
          await withTransaction(pool, (client) => mergeBars(client, [bar(0)]));
          const client = await pool.connect();
          try {
            await refreshRollups(client, window);
          } finally {
            client.release();
          }
        }
        const [payload] = await waitFor(() => (payloads.length > 0 ? payloads : undefined), {
          description: 'rollups refreshed notification',
        });
        const refreshed = parseRollupsRefreshed(payload);
        expect(refreshed).toMatchObject({
          from: new Date(T0).toISOString(),
          to: new Date(T0 + 86_400_000).toISOString(),
        });
        expect(refreshed?.refreshId).toMatch(/^[0-9a-f-]{36}$/);
      } finally {
        await listener.end();
      }
      expect(parseRollupsRefreshed('not json')).toBeUndefined();
      expect(parseRollupsRefreshed(JSON.stringify({ refreshId: 'x', from: 'a', to: 'b' }))).toBeUndefined();
    });
  });
});
