import { waitFor } from '@backbone/testing';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadMigrations } from './migration-files.ts';
import { migrate } from './migrate.ts';
import { refreshRollups, runStorageMaintenance } from './storage-maintenance.ts';
import { storageMode } from './storage-mode.ts';
import { createTestDatabase, databaseServerUrl, type TestDatabase } from './test-support/database.ts';

// The stack's TimescaleDB 2.28 server: preloaded, its background job scheduler running. The same
// migration files as production run here; assertions read timescaledb_information, not our own
// tables, and the policies are run by the scheduler itself (alter_job next_start => now()).
let db: TestDatabase;
let client: pg.Client;

beforeAll(async () => {
  db = await createTestDatabase(databaseServerUrl('timescaledb'), 'migrate_ts');
  client = await db.connect();
});
afterAll(async () => {
  await db.drop();
});

async function jobId(proc: string, name: string | null): Promise<number> {
  const result = await client.query<{ job_id: number }>(
    `SELECT job_id FROM timescaledb_information.jobs
     WHERE proc_name = $1 AND hypertable_name IS NOT DISTINCT FROM $2`,
    [proc, name],
  );
  const id = result.rows[0]?.job_id;
  if (id === undefined) throw new Error(`no ${proc} job for ${name ?? 'no hypertable'}`);
  return id;
}

/** Asks the server's scheduler to run a job now and waits until it finished one more run. */
async function runByScheduler(id: number): Promise<{ last_run_status: string }> {
  const stats = async () =>
    (
      await client.query<{ total_runs: string; last_run_status: string | null; job_status: string }>(
        `SELECT total_runs::text, last_run_status, job_status FROM timescaledb_information.job_stats WHERE job_id = $1`,
        [id],
      )
    ).rows[0];
  const before = Number((await stats())?.total_runs ?? 0);
  await client.query('SELECT alter_job($1, next_start => now())', [id]);
  return waitFor(
    async () => {
      const now = await stats();
      const done = now !== undefined && Number(now.total_runs) > before && now.job_status !== 'Running';
      return done && now.last_run_status !== null ? { last_run_status: now.last_run_status } : undefined;
    },
    { timeoutMs: 30_000, description: `the scheduler ran job ${id}` },
  );
}

describe('migrate on the TimescaleDB server', { timeout: 120_000 }, () => {
  it('chooses TimescaleDB mode, applies every migration, and is a no-op the second time', async () => {
    expect(await storageMode(client)).toBe('timescaledb');
    const first = await migrate(client, { storage: { retentionDays: { ticks: 3 } } });
    expect(first.mode).toBe('timescaledb');
    expect(first.warnings).toEqual([]);
    expect(first.applied.map((m) => m.version)).toEqual(loadMigrations('timescaledb').map((m) => m.version));
    const second = await migrate(client, { storage: { retentionDays: { ticks: 3 } } });
    expect(second.applied).toEqual([]);
    expect(second.policies.filter((p) => p.action !== 'unchanged')).toEqual([]);
  });

  it('makes hypertables with an explicit chunk interval per table and compression by symbol, newest first', async () => {
    const dims = await client.query<{ hypertable_name: string; column_name: string; time_interval: string }>(
      `SELECT hypertable_name, column_name, time_interval::text FROM timescaledb_information.dimensions
       WHERE hypertable_schema = 'market_data' ORDER BY 1`,
    );
    expect(dims.rows).toEqual([
      { hypertable_name: 'bars', column_name: 'ts', time_interval: '7 days' },
      { hypertable_name: 'macro_events', column_name: 'ts', time_interval: '90 days' },
      { hypertable_name: 'ticks', column_name: 'ts', time_interval: '1 day' },
    ]);
    const settings = await client.query<{
      attname: string;
      segmentby_column_index: number | null;
      orderby_asc: boolean | null;
    }>(
      `SELECT attname, segmentby_column_index, orderby_asc FROM timescaledb_information.compression_settings
       WHERE hypertable_schema = 'market_data' AND hypertable_name = 'bars' ORDER BY attname`,
    );
    expect(settings.rows).toEqual([
      { attname: 'symbol', segmentby_column_index: 1, orderby_asc: null },
      { attname: 'timeframe', segmentby_column_index: 2, orderby_asc: null },
      { attname: 'ts', segmentby_column_index: null, orderby_asc: false },
    ]);
  });

  it('changes the chunk interval of new chunks when the options change', async () => {
    const result = await migrate(client, {
      storage: { retentionDays: { ticks: 3 }, chunkIntervalDays: { ticks: 2 } },
    });
    expect(result.policies.filter((p) => p.action !== 'unchanged')).toEqual([
      { target: 'market_data.ticks', policy: 'chunk_interval', action: 'replaced', value: '2 days' },
    ]);
    await client.query(
      `INSERT INTO market_data.ticks (symbol, ts, sequence, price, size, source) VALUES ('EURUSD', now(), 1, 1.1, 1, 'test')`,
    );
    const chunk = await client.query<{ width: string }>(
      `SELECT (range_end - range_start)::text AS width FROM timescaledb_information.chunks
       WHERE hypertable_name = 'ticks' AND range_start <= now() AND now() < range_end`,
    );
    expect(chunk.rows).toEqual([{ width: '2 days' }]);
    await client.query('DELETE FROM market_data.ticks');
    await migrate(client, { storage: { retentionDays: { ticks: 3 } } });
  });

  it('schedules compression, retention, refresh and bar-prune jobs from the options, and the scheduler runs each', async () => {
    const jobs = await client.query<{
      job_id: number;
      proc_name: string;
      hypertable_name: string | null;
      scheduled: boolean;
      config: Record<string, string> | null;
    }>(
      `SELECT job_id, proc_name, hypertable_name, scheduled, config FROM timescaledb_information.jobs
       WHERE job_id >= 1000 ORDER BY proc_name, hypertable_name`,
    );
    const summary = jobs.rows.map((job) => `${job.proc_name}:${job.hypertable_name ?? '-'}`);
    expect(summary).toEqual([
      'policy_compression:bars',
      'policy_compression:macro_events',
      'policy_compression:ticks',
      'policy_refresh_continuous_aggregate:bars_1d',
      'policy_refresh_continuous_aggregate:bars_1h',
      'policy_retention:macro_events',
      'policy_retention:ticks',
      'prune_bars_job:-',
    ]);
    expect(jobs.rows.every((job) => job.scheduled)).toBe(true);
    const ticksRetention = jobs.rows.find(
      (job) => job.proc_name === 'policy_retention' && job.hypertable_name === 'ticks',
    );
    expect(ticksRetention?.config?.drop_after).toBe('3 days');
    // The server's background scheduler (not this session) runs every new job right away, and
    // each succeeds (with too few worker processes some failed with `failed to start job`).
    const runs = await waitFor(
      async () => {
        const stats = await client.query<{
          job_id: number;
          last_run_status: string | null;
          job_status: string;
        }>(
          `SELECT job_id, last_run_status, job_status FROM timescaledb_information.job_stats WHERE job_id >= 1000`,
        );
        const finished = stats.rows.filter(
          (row) => row.last_run_status !== null && row.job_status !== 'Running',
        );
        return finished.length === jobs.rows.length ? finished : undefined;
      },
      { timeoutMs: 30_000, description: 'a finished run of every job' },
    );
    expect(runs.map((run) => run.last_run_status)).toEqual(jobs.rows.map(() => 'Success'));
  });

  it('replaces a policy when the options change, and reports it', async () => {
    const result = await migrate(client, { storage: { retentionDays: { ticks: 5 } } });
    expect(result.policies.filter((p) => p.action !== 'unchanged')).toEqual([
      { target: 'market_data.ticks', policy: 'retention', action: 'replaced', value: 'drop_after=5 days' },
    ]);
  });

  it('the refresh policies, run by the scheduler, roll 1m bars into the 1h and 1d aggregates; refreshRollups the current day', async () => {
    const twoHoursAgo = "date_trunc('hour', now()) - interval '2 hours'";
    await client.query(
      `INSERT INTO market_data.bars (symbol, timeframe, ts, open, high, low, close, volume, source)
       SELECT 'EURUSD', '1m', ${twoHoursAgo} + m * interval '1 minute', 1 + m, 10 + m, 0.5, 2 + m, 1, 'test'
       FROM generate_series(0, 59) AS m`,
    );
    expect(await runByScheduler(await jobId('policy_refresh_continuous_aggregate', 'bars_1h'))).toEqual({
      last_run_status: 'Success',
    });
    const hourly = await client.query<{
      open: number;
      high: number;
      close: number;
      volume: number;
      bar_count: string;
    }>(
      `SELECT open, high, close, volume, bar_count::text FROM market_data.bars_1h WHERE ts = ${twoHoursAgo}`,
    );
    expect(hourly.rows).toEqual([{ open: 1, high: 69, close: 61, volume: 60, bar_count: '60' }]);

    // The 1d policy materializes closed days inside its 7-day window: two days ago is one.
    const twoDaysAgo = "date_trunc('day', now()) - interval '2 days'";
    await client.query(
      `INSERT INTO market_data.bars (symbol, timeframe, ts, open, high, low, close, volume, source)
       SELECT 'GBPUSD', '1m', ${twoDaysAgo} + interval '12 hours' + m * interval '1 minute', 1, 2, 0.5, 1, 2, 'test'
       FROM generate_series(0, 29) AS m`,
    );
    expect(await runByScheduler(await jobId('policy_refresh_continuous_aggregate', 'bars_1d'))).toEqual({
      last_run_status: 'Success',
    });
    const closedDay = await client.query<{ volume: number; bar_count: string }>(
      `SELECT volume, bar_count::text FROM market_data.bars_1d WHERE symbol = 'GBPUSD' AND ts = ${twoDaysAgo}`,
    );
    expect(closedDay.rows).toEqual([{ volume: 60, bar_count: '30' }]);

    const now = new Date();
    const refreshed = await refreshRollups(client, {
      from: new Date(now.getTime() - 3 * 3_600_000),
      to: now,
    });
    expect(refreshed.mode).toBe('timescaledb');
    const daily = await client.query<{ volume: number }>(
      `SELECT volume FROM market_data.bars_1d WHERE symbol = 'EURUSD'`,
    );
    expect(daily.rows.reduce((sum, row) => sum + row.volume, 0)).toBe(60);
  });

  it('the compression policy, run by the scheduler, compresses a bar chunk older than compressAfterDays', async () => {
    await client.query(
      `INSERT INTO market_data.bars (symbol, timeframe, ts, open, high, low, close, volume, source)
       SELECT 'EURUSD', '1m', date_trunc('minute', now() - interval '20 days') + m * interval '1 minute', 1, 1, 1, 1, 1, 'test'
       FROM generate_series(0, 99) AS m`,
    );
    const compressed = async () =>
      (
        await client.query<{ is_compressed: boolean }>(
          `SELECT is_compressed FROM timescaledb_information.chunks
           WHERE hypertable_name = 'bars' AND range_end < now() - interval '7 days'`,
        )
      ).rows.map((row) => row.is_compressed);
    expect(await compressed()).toEqual([false]);
    expect(await runByScheduler(await jobId('policy_compression', 'bars'))).toEqual({
      last_run_status: 'Success',
    });
    expect(await compressed()).toEqual([true]);
    const rows = await client.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM market_data.bars WHERE ts < now() - interval '7 days'`,
    );
    expect(rows.rows).toEqual([{ n: 100 }]);
  });

  it('the retention policy, run by the scheduler, drops an expired tick chunk; runStorageMaintenance does it on demand', async () => {
    const insertTicks = () =>
      client.query(
        `INSERT INTO market_data.ticks (symbol, ts, sequence, price, size, source) VALUES
         ('EURUSD', now() - interval '30 days', 1, 1.1, 1, 'test'), ('EURUSD', now(), 2, 1.1, 1, 'test')`,
      );
    await insertTicks();
    expect(await runByScheduler(await jobId('policy_retention', 'ticks'))).toEqual({
      last_run_status: 'Success',
    });
    const left = await client.query<{ sequence: string }>('SELECT sequence::text FROM market_data.ticks');
    expect(left.rows).toEqual([{ sequence: '2' }]);

    await client.query('DELETE FROM market_data.ticks');
    await insertTicks();
    const result = await runStorageMaintenance(client);
    expect(result.mode).toBe('timescaledb');
    expect(result.dropped).toHaveLength(1);
    expect(result.dropped[0]).toMatch(/^_timescaledb_internal\._hyper_\d+_\d+_chunk$/);
    // Its jobs use the server's clock: a time of the caller's choosing is refused, not ignored.
    await expect(runStorageMaintenance(client, { at: new Date() })).rejects.toThrow(RangeError);
  });

  it('the bar-prune job, run by the scheduler, deletes 1m bars past their retention, also from a compressed chunk', async () => {
    await client.query(
      `INSERT INTO market_data.bars (symbol, timeframe, ts, open, high, low, close, volume, source) VALUES
       ('EURUSD', '1m', date_trunc('minute', now() - interval '60 days'), 1, 1, 1, 1, 0, 'test'),
       ('EURUSD', '1d', date_trunc('day', now() - interval '60 days'), 1, 1, 1, 1, 0, 'test')`,
    );
    await client.query(
      `SELECT compress_chunk(c) FROM show_chunks('market_data.bars', older_than => now() - interval '50 days') c`,
    );
    expect(await runByScheduler(await jobId('prune_bars_job', null))).toEqual({ last_run_status: 'Success' });
    const kept = await client.query<{ timeframe: string }>(
      `SELECT timeframe FROM market_data.bars WHERE ts < now() - interval '50 days'`,
    );
    expect(kept.rows).toEqual([{ timeframe: '1d' }]);
  });
});
