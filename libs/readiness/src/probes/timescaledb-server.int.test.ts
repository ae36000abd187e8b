import { createPool, migrate } from '@backbone/db';
import { createTestDatabase, type TestDatabase, waitFor } from '@backbone/testing';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCheck, type CheckDefinition } from '../run-check.ts';
import { testConfig, testRules } from '../test-support/config.ts';
import { retentionChecks } from './retention.ts';
import { expectationsFromConfig, timescaleChecks } from './timescaledb.ts';

// The probes' TimescaleDB branches (timescaledb_information, continuous aggregates, policy jobs,
// chunks) on the stack's TimescaleDB server, whose job scheduler runs the policies for real. The
// plain-PostgreSQL branches are tested on the machine's PostgreSQL (timescaledb.int.test.ts).
const config = testConfig();
const rules = testRules({}, { probeTimeoutMs: 10_000, maxConsecutiveFailures: 2 });
let db: TestDatabase;
let pool: pg.Pool;

interface JobStats {
  job_id: number;
  last_run_status: string | null;
  total_runs: number;
  total_failures: number;
}

/** Job ids and stats as the scheduler left them (jobs not running right now). */
async function jobStats(): Promise<JobStats[]> {
  const stats = await pool.query<JobStats>(
    `SELECT job_id, last_run_status, total_runs::int, total_failures::int FROM timescaledb_information.job_stats
     WHERE job_id >= 1000 AND job_status <> 'Running' ORDER BY job_id`,
  );
  return stats.rows;
}

/** Asks the server's scheduler to run a job now and waits until it has finished that run. */
async function schedulerRun(jobId: number): Promise<JobStats> {
  const runsBefore = (await jobStats()).find((row) => row.job_id === jobId)?.total_runs ?? 0;
  await pool.query('SELECT alter_job($1, next_start => now())', [jobId]);
  return waitFor(
    // A run in progress counts in total_runs before it has a status.
    async () =>
      (await jobStats()).find(
        (row) => row.job_id === jobId && row.total_runs > runsBefore && row.last_run_status !== null,
      ),
    { timeoutMs: 30_000, description: `the scheduler ran job ${jobId}` },
  );
}

beforeAll(async () => {
  db = await createTestDatabase('readiness_ts', {
    migrate: (client) => migrate(client, { storage: config.storage }),
  });
  pool = createPool({ url: db.url, poolSize: 4, statementTimeoutMs: 10_000 });
  // createTestDatabase waited for the scheduler's first run of every policy job: the retention
  // job will not drop the expired chunk a test makes before the test asks it to.
});
afterAll(async () => {
  await pool.end();
  await db.drop();
});

function check(name: string, checks: CheckDefinition[]): CheckDefinition {
  const found = checks.find((candidate) => candidate.name === name);
  if (found === undefined) throw new Error(`no check ${name}`);
  return found;
}

const databaseChecks = (now = () => new Date()): CheckDefinition[] =>
  timescaleChecks({ pool, rules, expectations: expectationsFromConfig(config), now });

describe('database probes on the TimescaleDB server', { timeout: 90_000 }, () => {
  it('reports the mode, the extension version and the three hypertables', async () => {
    const connection = await runCheck(check('timescaledb.connection', databaseChecks()), 20_000);
    expect(connection.status).toBe('ok');
    expect(connection.evidence).toMatchObject({ mode: 'timescaledb' });
    expect(connection.evidence['timescaledbVersion']).toMatch(/^2\.28\./);
    const schema = await runCheck(check('timescaledb.schema', databaseChecks()), 20_000);
    expect(schema.status).toBe('ok');
    expect(Object.keys(schema.evidence['hypertables'] as object).sort()).toEqual([
      'market_data.bars',
      'market_data.macro_events',
      'market_data.ticks',
    ]);
  });

  it('jobs: ok with every policy job and its run by the scheduler as evidence', async () => {
    const jobs = await runCheck(check('timescaledb.jobs', databaseChecks()), 20_000);
    expect(jobs.status, jobs.message).toBe('ok');
    expect(jobs.evidence['schedulerRunning']).toBe(true);
    const evidence = jobs.evidence['jobs'] as Record<string, unknown>[];
    expect(evidence.map((job) => `${String(job['proc'])}:${String(job['hypertable'])}`).sort()).toEqual([
      '_timescaledb_functions.policy_compression:market_data.bars',
      '_timescaledb_functions.policy_compression:market_data.macro_events',
      '_timescaledb_functions.policy_compression:market_data.ticks',
      '_timescaledb_functions.policy_refresh_continuous_aggregate:market_data.bars_1d',
      '_timescaledb_functions.policy_refresh_continuous_aggregate:market_data.bars_1h',
      '_timescaledb_functions.policy_retention:market_data.macro_events',
      '_timescaledb_functions.policy_retention:market_data.ticks',
      'backbone.prune_bars_job:null',
    ]);
    for (const job of evidence) {
      expect(job).toMatchObject({ lastRunStatus: 'Success', failuresInARow: 0, overdueSeconds: 0 });
      expect(job['lastRunStartedAt']).toEqual(expect.any(String));
    }
  });

  it('jobs: a late job (scheduled, next start long past) warns, then fails, naming the job', async () => {
    // The probe's clock 25 minutes ahead: by it, the 15-minute rollup refresh (the only job due
    // that soon) is 10-25 minutes overdue, past the 5-minute grace and short of the hour that fails.
    const soon = await runCheck(
      check(
        'timescaledb.jobs',
        databaseChecks(() => new Date(Date.now() + 25 * 60_000)),
      ),
      20_000,
    );
    expect(soon.status, soon.message).toBe('warn');
    expect(soon.reason).toBe('timescaledb_job_late');
    expect(soon.message).toMatch(
      /^TimescaleDB job \d+ \(_timescaledb_functions\.policy_refresh_continuous_aggregate on market_data\.bars_1h\) was due at \S+, \d+m ago \(threshold 5m\), and has not started/,
    );
    // Two days ahead, every job is more than an hour overdue.
    const inTwoDays = await runCheck(
      check(
        'timescaledb.jobs',
        databaseChecks(() => new Date(Date.now() + 2 * 86_400_000)),
      ),
      20_000,
    );
    expect(inTwoDays.status).toBe('fail');
    expect(inTwoDays.reason).toBe('timescaledb_job_late');
  });

  it('jobs: a job whose runs fail warns after one failure and fails after maxConsecutiveFailures, naming the job and its error', async () => {
    await pool.query(
      `CREATE PROCEDURE public.archive_to_cold_storage(job_id integer, config jsonb) LANGUAGE plpgsql
       AS $$ BEGIN RAISE EXCEPTION 'cold storage bucket is gone'; END $$`,
    );
    const added = await pool.query<{ id: number }>(
      `SELECT add_job('public.archive_to_cold_storage', INTERVAL '1 hour', initial_start => now()) AS id`,
    );
    const jobId = added.rows[0]?.id ?? 0;
    try {
      // Run by the server's scheduler, which records the failure in job_stats and job_errors.
      await waitFor(
        async () => (await jobStats()).some((row) => row.job_id === jobId && row.total_failures === 1),
        { timeoutMs: 30_000, description: 'the first failed run' },
      );
      const once = await runCheck(check('timescaledb.jobs', databaseChecks()), 20_000);
      expect(once.status).toBe('warn');
      expect(once.reason).toBe('timescaledb_job_failed');
      expect(once.message).toContain(
        `TimescaleDB job ${jobId} (public.archive_to_cold_storage) failed its last 1 run (fail threshold 2)`,
      );
      expect(once.message).toContain('cold storage bucket is gone');
      expect(once.message).toContain(`CALL run_job(${jobId})`);
      expect(
        (once.evidence['jobs'] as Record<string, unknown>[]).find((job) => job['jobId'] === jobId),
      ).toMatchObject({
        lastRunStatus: 'Failed',
        failuresInARow: 1,
        totalFailures: 1,
        lastError: 'cold storage bucket is gone',
      });

      expect(await schedulerRun(jobId)).toMatchObject({ last_run_status: 'Failed', total_failures: 2 });
      const twice = await runCheck(check('timescaledb.jobs', databaseChecks()), 20_000);
      expect(twice.status).toBe('fail');
      expect(twice.message).toContain(
        `TimescaleDB job ${jobId} (public.archive_to_cold_storage) failed its last 2 runs`,
      );
    } finally {
      await pool.query('SELECT delete_job($1)', [jobId]);
    }
  });

  it('jobs: fails when no job scheduler runs for the database, naming its jobs', async () => {
    // What a restore does: timescaledb_pre_restore() stops this database's scheduler (only this
    // one) and sets timescaledb.restoring for new sessions until timescaledb_post_restore(). A
    // pool of its own, ended after, so no session of the other tests starts in restoring mode.
    const restoring = createPool({ url: db.url, poolSize: 1, statementTimeoutMs: 10_000 });
    const jobsCheck = () =>
      runCheck(
        check(
          'timescaledb.jobs',
          timescaleChecks({ pool: restoring, rules, expectations: expectationsFromConfig(config) }),
        ),
        20_000,
      );
    try {
      await restoring.query('SELECT timescaledb_pre_restore()');
      const down = await waitFor(
        async () => {
          const result = await jobsCheck();
          return result.status === 'fail' ? result : undefined;
        },
        { timeoutMs: 30_000, description: "the database's scheduler stopped" },
      );
      expect(down.reason).toBe('timescaledb_scheduler_down');
      expect(down.message).toMatch(
        /^No TimescaleDB job scheduler runs for this database, so its 8 scheduled jobs \(\d+ _timescaledb_functions\.policy_compression, /,
      );
      expect(down.evidence['schedulerRunning']).toBe(false);
    } finally {
      await restoring.query('SELECT timescaledb_post_restore()');
    }
    try {
      await waitFor(async () => (await jobsCheck()).status === 'ok', {
        timeoutMs: 30_000,
        description: 'the scheduler back after timescaledb_post_restore()',
      });
    } finally {
      await restoring.end();
    }
  });

  it('retention: every target enforced by a TimescaleDB job with the configured days, and its last run', async () => {
    const checks = retentionChecks({ pool, storage: config.storage });
    const bars = await runCheck(check('retention.bars', checks), 20_000);
    expect(bars.status, bars.message).toBe('ok');
    const timeframes = bars.evidence['timeframes'] as Record<string, unknown>[];
    expect(timeframes.map((entry) => [entry['timeframe'], entry['enforcedDays']])).toEqual(
      Object.entries(config.storage.retentionDays.bars),
    );
    for (const entry of timeframes) {
      expect(entry['policy']).toMatch(/^TimescaleDB job \d+ \(prune_bars_job\)$/);
      // Run by the scheduler when it was added.
      expect(entry).toMatchObject({ lastRunStatus: 'Success', totalFailures: 0 });
      expect(entry['lastRun']).toEqual(expect.any(String));
    }
    for (const [name, days] of [
      ['retention.ticks', config.storage.retentionDays.ticks],
      ['retention.macro_events', config.storage.retentionDays.macroEvents],
    ] as const) {
      const outcome = await runCheck(check(name, checks), 20_000);
      expect(outcome.status, outcome.message).toBe('ok');
      expect(outcome.evidence).toMatchObject({ enforcedDays: days, lastRunStatus: 'Success' });
      expect(outcome.evidence['policy']).toMatch(/^TimescaleDB job \d+ \(policy_retention\)$/);
    }
  });

  it('retention: reads the real chunk ranges; an expired chunk the job has not dropped yet warns, naming it, until the scheduler runs the job', async () => {
    const checks = retentionChecks({ pool, storage: config.storage });
    const targetDays = config.storage.retentionDays.ticks;
    await pool.query(
      `INSERT INTO market_data.ticks (symbol, ts, sequence, price, size, source) VALUES
       ('EURUSD', now() - make_interval(days => $1 + 5), 1, 1.1, 1, 'test'), ('EURUSD', now(), 2, 1.1, 1, 'test')`,
      [targetDays],
    );
    const chunks = await pool.query<{ chunk: string; range_start: Date; range_end: Date }>(
      `SELECT chunk_schema || '.' || chunk_name AS chunk, range_start, range_end FROM timescaledb_information.chunks
       WHERE hypertable_name = 'ticks' ORDER BY range_start`,
    );
    expect(chunks.rows).toHaveLength(2);
    const [expired, current] = chunks.rows;
    const before = await runCheck(check('retention.ticks', checks), 20_000);
    expect(before.status).toBe('warn');
    expect(before.reason).toBe('retention_overdue');
    expect(before.message).toContain(
      `market_data.ticks: chunk ${expired?.chunk} [${expired?.range_start.toISOString()}, ${expired?.range_end.toISOString()}) ended`,
    );
    expect(before.evidence['chunks']).toEqual({
      count: 2,
      compressed: 0,
      oldest: {
        chunk: expired?.chunk,
        rangeStart: expired?.range_start.toISOString(),
        rangeEnd: expired?.range_end.toISOString(),
      },
      newest: {
        chunk: current?.chunk,
        rangeStart: current?.range_start.toISOString(),
        rangeEnd: current?.range_end.toISOString(),
      },
    });

    const retentionJob = await pool.query<{ job_id: number }>(
      `SELECT job_id FROM timescaledb_information.jobs WHERE proc_name = 'policy_retention' AND hypertable_name = 'ticks'`,
    );
    const jobId = retentionJob.rows[0]?.job_id ?? 0;
    expect(await schedulerRun(jobId)).toMatchObject({ last_run_status: 'Success' });
    const after = await runCheck(check('retention.ticks', checks), 20_000);
    expect(after.status, after.message).toBe('ok');
    expect(after.evidence['chunks']).toMatchObject({ count: 1, oldest: { chunk: current?.chunk } });
  });

  it('warns when the TimescaleDB policy and the config disagree', async () => {
    const storage = testConfig({ storage: { retentionDays: { ticks: 3 } } }).storage;
    const ticks = await runCheck(check('retention.ticks', retentionChecks({ pool, storage })), 20_000);
    expect(ticks.status).toBe('warn');
    expect(ticks.reason).toBe('retention_policy_drift');
  });

  it('measures rollup lag against the continuous aggregate, and none once it is refreshed', async () => {
    // Two closed hours of 1m bars, ingested ten minutes ago, not yet rolled up.
    const hour = 3_600_000;
    const start = new Date(Math.floor(Date.now() / hour) * hour - 3 * hour);
    await pool.query(
      `INSERT INTO market_data.bars (symbol, timeframe, ts, open, high, low, close, volume, source, ingested_at)
       SELECT 'EURUSD', '1m', $1::timestamptz + make_interval(mins => i), 1, 1.1, 0.9, 1, 10, 't',
              now() - interval '10 minutes'
       FROM generate_series(0, 119) AS i`,
      [start],
    );
    const before = await runCheck(check('freshness.rollups', databaseChecks()), 20_000);
    expect(before.status).not.toBe('ok');
    expect(before.reason).toBe('rollup_lagging');
    expect(before.evidence['lagSeconds']).toBeGreaterThanOrEqual(590);

    await pool.query(`CALL refresh_continuous_aggregate('market_data.bars_1h', NULL, NULL)`);
    const after = await runCheck(check('freshness.rollups', databaseChecks()), 20_000);
    expect(after.status, after.message).toBe('ok');
    expect(after.evidence).toMatchObject({
      newestRollupBucket: new Date(start.getTime() + hour).toISOString(),
      lagSeconds: 0,
    });
  });
});
