import { utcMidnightDaysAgo, waitFor } from '@backbone/testing';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { sqlState } from './database-errors.ts';
import { mergeBars, type BarRow } from './merge-bars.ts';
import { migrate } from './migrate.ts';
import { createPool, withTransaction } from './pool.ts';
import type { SqlExecutor } from './sql-executor.ts';
import { refreshRollups } from './storage-maintenance.ts';
import { createTestDatabase, databaseServerUrl, type TestDatabase } from './test-support/database.ts';

// On the real TimescaleDB server (the test server's default), whose background scheduler runs
// the rollups' refresh policy jobs: a refresh of an overlapping window in another session makes
// refresh_continuous_aggregate fail at once (SQLSTATE 55P03) instead of waiting for it.

let db: TestDatabase;
let pool: pg.Pool;
const sessions: pg.Client[] = [];

beforeAll(async () => {
  db = await createTestDatabase(databaseServerUrl('timescaledb'), 'refresh_rollups');
  await migrate(await db.connect());
  pool = createPool({ url: db.url, poolSize: 4 }, { applicationName: 'db-refresh-rollups-test' });
});
afterEach(async () => {
  // A holder left by a failed test would keep its lock until the database is dropped.
  await Promise.allSettled(sessions.splice(0).map((session) => session.query('ROLLBACK')));
});
afterAll(async () => {
  await pool.end();
  await db.drop();
});

const DAY_MS = 86_400_000;

/**
 * Two hours of 1m bars stored on a day of their own, `daysAgo` whole UTC days before today, not
 * yet rolled up: the refresh of that day has work to do, so a refresh held on it stays in
 * progress. The scheduler runs the refresh policies over the last 3 (1h) and 7 (1d) days and
 * prunes 1m bars older than 30 days, so the tests' days lie between.
 */
async function unrolledDay(
  daysAgo: number,
): Promise<{ from: Date; to: Date; bars: { from: Date; to: Date } }> {
  const start = utcMidnightDaysAgo(daysAgo);
  const bars: BarRow[] = Array.from({ length: 120 }, (_, minute) => ({
    symbol: 'EURUSD',
    timeframe: '1m',
    ts: new Date(start + minute * 60_000),
    open: 1.0841,
    high: 1.0846,
    low: 1.0839,
    close: 1.0844,
    volume: 1250,
    source: 'feed',
  }));
  await withTransaction(pool, (client) => mergeBars(client, bars));
  // `bars` is what a caller passes refreshRollups: it widens it to the day (a window ending at
  // midnight would be widened to the next day as well).
  return {
    from: new Date(start),
    to: new Date(start + DAY_MS),
    bars: { from: new Date(start), to: new Date(start + 2 * 3_600_000) },
  };
}

/**
 * Another session refreshing bars_1h over the day refreshRollups refreshes, held mid-refresh: a
 * third session locks the aggregate's materialization table, so the refresh registers its window
 * (committed, as the policy job's does) and then waits for that lock. `release()` lets it finish.
 * (A window refresh runs in batches, each registered on its own: the held window covers the whole
 * day so that every batch of refreshRollups' overlaps it and none merely waits for the lock.)
 */
async function holdConcurrentRefresh(day: { from: Date; to: Date }): Promise<{ release(): Promise<void> }> {
  const holder = await db.connect();
  sessions.push(holder);
  const materialization = await holder.query<{ table: string }>(
    `SELECT format('%I.%I', materialization_hypertable_schema, materialization_hypertable_name) AS table
     FROM timescaledb_information.continuous_aggregates
     WHERE view_schema = 'market_data' AND view_name = 'bars_1h'`,
  );
  await holder.query('BEGIN');
  await holder.query(`LOCK TABLE ${materialization.rows[0]?.table ?? ''} IN ACCESS EXCLUSIVE MODE`);
  const refresher = await db.connect();
  const backend = await refresher.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
  const refreshed = refresher.query(
    'CALL refresh_continuous_aggregate($1::regclass, $2::timestamptz, $3::timestamptz)',
    ['market_data.bars_1h', day.from, day.to],
  );
  // Awaited by release(); a failing test must not leave an unhandled rejection behind.
  refreshed.catch(() => undefined);
  await waitFor(
    async () => {
      const registered = await pool.query(
        'SELECT 1 FROM _timescaledb_catalog.continuous_aggs_jobs_refresh_ranges WHERE pid = $1',
        [backend.rows[0]?.pid],
      );
      return registered.rows.length > 0;
    },
    { description: "the other session's refresh window registered as in progress" },
  );
  return {
    async release() {
      await holder.query('COMMIT');
      await refreshed;
    },
  };
}

/** The pool, recording the SQLSTATE of every statement the database refuses. */
function recordingRefusals(): { executor: SqlExecutor; refusals: (string | undefined)[] } {
  const refusals: (string | undefined)[] = [];
  const executor: SqlExecutor = {
    query: async (sql, params) => {
      try {
        return await pool.query(sql, params);
      } catch (error) {
        refusals.push(sqlState(error));
        throw error;
      }
    },
  };
  return { executor, refusals };
}

describe('refreshRollups on TimescaleDB while another session refreshes the same rollup', () => {
  it('waits out the concurrent refresh (refused with 55P03 meanwhile) and then refreshes its window', async () => {
    const day = await unrolledDay(14);
    const concurrent = await holdConcurrentRefresh(day);
    const { executor, refusals } = recordingRefusals();
    const result = refreshRollups(executor, day.bars);
    // Awaited below; a rejection meanwhile must fail the test there, not as an unhandled one.
    result.catch(() => undefined);
    await waitFor(() => refusals.includes('55P03'), {
      description: 'refreshRollups refused at least once for the concurrent refresh',
    });
    await concurrent.release();

    expect(await result).toMatchObject({ mode: 'timescaledb' });
    expect(refusals.every((code) => code === '55P03')).toBe(true);
    const hourly = await pool.query<{ ts: Date; bar_count: string }>(
      "SELECT ts, bar_count FROM market_data.bars_1h WHERE symbol = 'EURUSD' AND ts >= $1 AND ts < $2 ORDER BY ts",
      [day.from, day.to],
    );
    expect(hourly.rows.map((row) => [row.ts.getTime(), Number(row.bar_count)])).toEqual([
      [day.from.getTime(), 60],
      [day.from.getTime() + 3_600_000, 60],
    ]);
    // bars_1d, refreshed after bars_1h, is refreshRollups' own work: the held refresh was bars_1h's.
    const daily = await pool.query<{ bar_count: string }>(
      "SELECT bar_count FROM market_data.bars_1d WHERE symbol = 'EURUSD' AND ts = $1",
      [day.from],
    );
    expect(daily.rows.map((row) => Number(row.bar_count))).toEqual([120]);
  });

  it('gives up after its timeout, naming the rollup and what holds it', async () => {
    const day = await unrolledDay(15);
    const concurrent = await holdConcurrentRefresh(day);
    try {
      const refused = await refreshRollups(pool, day.bars, { concurrentRefreshTimeoutMs: 1_000 }).then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(refused).toBeInstanceOf(Error);
      expect((refused as Error).message).toBe(
        `refreshRollups: market_data.bars_1h [${day.from.toISOString()}, ${day.to.toISOString()}) could not be refreshed: ` +
          'another session was still refreshing an overlapping window after 1000 ms (a TimescaleDB refresh policy job ' +
          'or another refreshRollups; see timescaledb_information.job_stats and pg_stat_activity); run it again once ' +
          'that refresh has finished',
      );
      expect(sqlState((refused as Error).cause)).toBe('55P03');
    } finally {
      await concurrent.release();
    }
  });

  it('stops waiting at once when its signal aborts (a worker shutting down)', async () => {
    const day = await unrolledDay(16);
    const concurrent = await holdConcurrentRefresh(day);
    try {
      const { executor, refusals } = recordingRefusals();
      const shutdown = new AbortController();
      const result = refreshRollups(executor, day.bars, { signal: shutdown.signal }).then(
        () => undefined,
        (error: unknown) => error,
      );
      await waitFor(() => refusals.includes('55P03'), {
        description: 'refreshRollups refused at least once for the concurrent refresh',
      });
      shutdown.abort(new Error('shutting down'));
      // Well inside the default 60 s of waiting: the abort ended it, not the timeout.
      expect(await result).toMatchObject({ name: 'AbortError', cause: { message: 'shutting down' } });
    } finally {
      await concurrent.release();
    }
  });
});
