import type { SystemConfig } from '@backbone/config';
import { timeframeMs, type Timeframe } from '@backbone/contracts';
import { storageMode, type SqlExecutor } from '@backbone/db';
import {
  combine,
  formatAge,
  formatCount,
  notOk,
  ok,
  type CheckOutcome,
  type Evidence,
  type Finding,
} from '../check.ts';
import type { CheckDefinition } from '../run-check.ts';
import { grade, type ReadinessRules } from '../rules.ts';

/** Which symbols the configured ingest plans promise, per freshness dimension. */
export interface FreshnessExpectations {
  /** `1d` bars: symbol → timeframes. */
  daily: Record<string, string[]>;
  /** Intraday bars: symbol → timeframes. */
  intraday: Record<string, string[]>;
  /** Macro event sources that plans fill (FRED plans → `fred`). */
  macroSources: string[];
}

const INTRADAY: readonly string[] = ['1m', '5m', '15m', '30m', '1h', '4h'];

/**
 * What the ingest plans promise: every plan symbol in every plan timeframe; FRED plans promise
 * macro events.
 *
 * @example const expectations = expectationsFromConfig(config);
 */
export function expectationsFromConfig(config: SystemConfig): FreshnessExpectations {
  const expectations: FreshnessExpectations = { daily: {}, intraday: {}, macroSources: [] };
  for (const plan of config.ingest.plans) {
    if (plan.provider === 'fred') {
      if (!expectations.macroSources.includes('fred')) expectations.macroSources.push('fred');
      continue;
    }
    for (const timeframe of plan.timeframes) {
      const target =
        timeframe === '1d'
          ? expectations.daily
          : INTRADAY.includes(timeframe)
            ? expectations.intraday
            : undefined;
      if (target === undefined) continue;
      for (const symbol of plan.symbols) {
        const list = (target[symbol] ??= []);
        if (!list.includes(timeframe)) list.push(timeframe);
      }
    }
  }
  return expectations;
}

/** Tables the migrations create; a missing one means the database is not migrated. */
export const EXPECTED_TABLES = [
  'market_data.bars',
  'market_data.ticks',
  'market_data.macro_events',
  'market_data.bars_1h',
  'market_data.bars_1d',
  'backbone.ingest_runs',
  'backbone.outbox',
  'backbone.consumer_offsets',
  'backbone.readiness_snapshots',
  'backbone.rejected_rows',
  'backbone.rejected_records',
  'backbone.offset_gaps',
  'backbone.bar_retention',
] as const;

const PARTITIONED = ['market_data.bars', 'market_data.ticks', 'market_data.macro_events'] as const;

export interface TimescaleProbeInput {
  pool: SqlExecutor;
  rules: ReadinessRules;
  expectations: FreshnessExpectations;
  now?: () => Date;
}

/**
 * The database checks: connection, schema, freshness per dimension, rollup lag, ingest-run trend.
 *
 * @example const checks = timescaleChecks({ pool, rules, expectations });
 */
export function timescaleChecks(input: TimescaleProbeInput): CheckDefinition[] {
  const now = input.now ?? (() => new Date());
  return [
    { name: 'timescaledb.connection', component: 'timescaledb', run: () => probeConnection(input) },
    { name: 'timescaledb.schema', component: 'timescaledb', run: () => probeSchema(input.pool) },
    { name: 'timescaledb.jobs', component: 'timescaledb', run: () => probeJobs(input, now()) },
    {
      name: 'freshness.daily',
      component: 'ingest-freshness',
      run: () => probeBarFreshness(input, 'daily', now()),
    },
    {
      name: 'freshness.intraday',
      component: 'ingest-freshness',
      run: () => probeBarFreshness(input, 'intraday', now()),
    },
    { name: 'freshness.macro', component: 'ingest-freshness', run: () => probeMacroFreshness(input, now()) },
    { name: 'freshness.rollups', component: 'ingest-freshness', run: () => probeRollupLag(input, now()) },
    { name: 'ingest.runs', component: 'ingest-freshness', run: () => probeIngestRuns(input, now()) },
  ];
}

async function probeConnection({ pool, rules }: TimescaleProbeInput): Promise<CheckOutcome> {
  const started = performance.now();
  await pool.query('SELECT 1');
  const latencyMs = Math.round((performance.now() - started) * 10) / 10;
  const version = await pool.query<{ server_version: string; timescaledb: string | null }>(
    `SELECT current_setting('server_version') AS server_version,
            (SELECT extversion FROM pg_extension WHERE extname = 'timescaledb') AS timescaledb`,
  );
  const mode = await storageMode(pool);
  const row = version.rows[0];
  const evidence: Evidence = {
    selectOneMs: latencyMs,
    serverVersion: row?.server_version ?? null,
    timescaledbVersion: row?.timescaledb ?? null,
    mode,
  };
  if (latencyMs >= rules.probeTimeoutMs / 2) {
    return notOk(
      'warn',
      'database_slow',
      `PostgreSQL answered SELECT 1 in ${latencyMs} ms, more than half the probe timeout ${rules.probeTimeoutMs} ms; check the database load and the network.`,
      evidence,
    );
  }
  return ok(evidence);
}

/**
 * `pg_total_relation_size` (with indexes and TOAST) of every table in the `backbone` schema: the
 * bookkeeping tables grow with use, so their size shows whether the ingestor's maintenance pass
 * keeps them pruned (storage.systemRetention). A table added later is listed without a change here.
 */
async function systemTableSizes(pool: SqlExecutor): Promise<Record<string, number>> {
  const sizes = await pool.query<{ name: string; bytes: string }>(
    `SELECT n.nspname || '.' || c.relname AS name, pg_total_relation_size(c.oid)::text AS bytes
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = 'backbone' AND c.relkind IN ('r', 'p') AND NOT c.relispartition ORDER BY 1`,
  );
  return Object.fromEntries(sizes.rows.map((row) => [row.name, Number(row.bytes)]));
}

async function probeSchema(pool: SqlExecutor): Promise<CheckOutcome> {
  const tables = await pool.query<{ name: string; present: boolean }>(
    `SELECT name, to_regclass(name) IS NOT NULL AS present FROM unnest($1::text[]) AS name`,
    [EXPECTED_TABLES],
  );
  const missing = tables.rows.filter((row) => !row.present).map((row) => row.name);
  if (missing.length > 0) {
    return notOk(
      'fail',
      'tables_missing',
      `Database tables ${missing.join(', ')} are missing; run ./backbone migrate.`,
      { missingTables: missing },
    );
  }
  const mode = await storageMode(pool);
  const systemTableBytes = await systemTableSizes(pool);
  if (mode === 'timescaledb') {
    const hypertables = await pool.query<{ name: string; chunks: string }>(
      `SELECT hypertable_schema || '.' || hypertable_name AS name, num_chunks::text AS chunks
       FROM timescaledb_information.hypertables WHERE hypertable_schema = 'market_data'`,
    );
    const found = new Set(hypertables.rows.map((row) => row.name));
    const notHyper = PARTITIONED.filter((table) => !found.has(table));
    const evidence = {
      mode,
      systemTableBytes,
      hypertables: Object.fromEntries(hypertables.rows.map((row) => [row.name, Number(row.chunks)])),
    };
    if (notHyper.length > 0) {
      return notOk(
        'fail',
        'hypertables_missing',
        `${notHyper.join(', ')} ${notHyper.length === 1 ? 'is' : 'are'} not a hypertable; the TimescaleDB migration did not complete, run ./backbone migrate.`,
        evidence,
      );
    }
    return ok(evidence);
  }
  // Plain partitioning: writes into a range without a partition fail, so the partition holding
  // "now" and the next one must exist (created ahead by the maintenance job).
  const partitions = await pool.query<{
    parent: string;
    count: string;
    covers_now: boolean;
    covers_next: boolean;
  }>(
    `SELECT p.parent,
            (SELECT count(*) FROM backbone.time_partitions(p.parent::regclass))::text AS count,
            EXISTS (SELECT 1 FROM backbone.time_partitions(p.parent::regclass) t
                    WHERE t.range_start <= now() AND now() < t.range_end) AS covers_now,
            EXISTS (SELECT 1 FROM backbone.time_partitions(p.parent::regclass) t
                    WHERE t.range_start <= now() + p.width AND now() + p.width < t.range_end) AS covers_next
     FROM backbone.partition_policies p ORDER BY p.parent`,
  );
  const evidence = {
    mode,
    systemTableBytes,
    partitions: Object.fromEntries(
      partitions.rows.map((row) => [
        row.parent,
        { count: Number(row.count), coversNow: row.covers_now, coversNext: row.covers_next },
      ]),
    ),
  };
  return combine(
    partitions.rows.flatMap((row): Finding[] => {
      if (!row.covers_now) {
        return [
          {
            status: 'fail',
            reason: 'partition_missing',
            message: `${row.parent} has no partition for the current time, so inserts fail; run ./backbone migrate or the partition maintenance.`,
          },
        ];
      }
      if (!row.covers_next) {
        return [
          {
            status: 'warn' as const,
            reason: 'partitions_not_ahead',
            message: `${row.parent} has no partition for the next period; the partition maintenance has not run recently.`,
          },
        ];
      }
      return [];
    }),
    evidence,
  );
}

interface JobRow {
  job_id: number;
  proc: string;
  hypertable: string | null;
  scheduled: boolean;
  job_status: string | null;
  schedule_seconds: number | null;
  last_run_status: string | null;
  last_run_started_at: Date | null;
  last_successful_finish: Date | null;
  next_start: Date | null;
  total_runs: string | null;
  total_failures: string | null;
  failures_in_a_row: string;
  last_error: string | null;
}

/**
 * The TimescaleDB background jobs (compression, retention, rollup refresh, bar prune and any
 * other job of this database) as the server's scheduler ran them: a job whose last run failed
 * warns, `maxConsecutiveFailures` failed runs in a row fail; a scheduled job whose next start is
 * overdue by `jobLateSeconds` warns / fails (the scheduler is not running it: no background
 * worker free, or the scheduler stopped); no scheduler process for the database at all fails.
 * Failures in a row are the job's errors
 * (timescaledb_information.job_errors) since its last successful finish. Plain PostgreSQL has no
 * scheduler: the check reports the mode and passes (the ingestor's maintenance pass does that work).
 */
async function probeJobs({ pool, rules }: TimescaleProbeInput, now: Date): Promise<CheckOutcome> {
  const mode = await storageMode(pool);
  if (mode !== 'timescaledb') {
    return ok({ mode, jobs: [], scheduler: "none (plain PostgreSQL: the ingestor's maintenance pass)" });
  }
  const jobs = await pool.query<JobRow>(
    // Finite timestamps only: a job that never ran has -infinity there, which is no Date. Job ids
    // below 1000 are TimescaleDB's own (telemetry, job-history retention).
    `SELECT j.job_id, j.proc_schema || '.' || j.proc_name AS proc,
            CASE WHEN j.hypertable_name IS NOT NULL THEN j.hypertable_schema || '.' || j.hypertable_name END AS hypertable,
            j.scheduled, s.job_status,
            extract(epoch FROM j.schedule_interval)::float8 AS schedule_seconds,
            s.last_run_status,
            CASE WHEN isfinite(s.last_run_started_at) THEN s.last_run_started_at END AS last_run_started_at,
            CASE WHEN isfinite(s.last_successful_finish) THEN s.last_successful_finish END AS last_successful_finish,
            CASE WHEN isfinite(s.next_start) THEN s.next_start END AS next_start,
            s.total_runs::text, s.total_failures::text,
            (SELECT count(*) FROM timescaledb_information.job_errors e
              WHERE e.job_id = j.job_id AND e.start_time > coalesce(s.last_successful_finish, '-infinity'))::text AS failures_in_a_row,
            (SELECT e.err_message FROM timescaledb_information.job_errors e
              WHERE e.job_id = j.job_id ORDER BY e.start_time DESC LIMIT 1) AS last_error
     FROM timescaledb_information.jobs j
     LEFT JOIN timescaledb_information.job_stats s ON s.job_id = j.job_id
     WHERE j.job_id >= 1000 ORDER BY j.job_id`,
  );
  // The launcher runs one scheduler per database; without it no job of this database runs, and
  // a job that never ran has no next start to be late by.
  const scheduler = await pool.query<{ running: boolean }>(
    `SELECT EXISTS (SELECT 1 FROM pg_stat_activity
                    WHERE datname = current_database() AND backend_type = 'TimescaleDB Background Worker Scheduler') AS running`,
  );
  const schedulerRunning = scheduler.rows[0]?.running === true;
  const findings: Finding[] = [];
  const scheduled = jobs.rows.filter((job) => job.scheduled);
  if (!schedulerRunning && scheduled.length > 0) {
    findings.push({
      status: 'fail',
      reason: 'timescaledb_scheduler_down',
      message: `No TimescaleDB job scheduler runs for this database, so its ${String(scheduled.length)} scheduled jobs (${scheduled.map((job) => `${String(job.job_id)} ${job.proc}`).join(', ')}) do not run: compression, retention and the rollup refresh stop. Check timescaledb.max_background_workers (one scheduler per database plus the jobs running at once), that timescaledb.restoring is off for the database (timescaledb_post_restore()), and the server log.`,
    });
  }
  const evidence = jobs.rows.map((job) => {
    const name = `TimescaleDB job ${job.job_id} (${job.proc}${job.hypertable === null ? '' : ` on ${job.hypertable}`})`;
    const failuresInARow = job.last_run_status === 'Failed' ? Math.max(1, Number(job.failures_in_a_row)) : 0;
    const overdueSeconds =
      job.scheduled && job.job_status !== 'Running' && job.next_start !== null
        ? Math.max(0, Math.round((now.getTime() - job.next_start.getTime()) / 1000))
        : 0;
    if (failuresInARow > 0) {
      findings.push({
        status: failuresInARow >= rules.maxConsecutiveFailures ? 'fail' : 'warn',
        reason: 'timescaledb_job_failed',
        message: `${name} failed its last ${failuresInARow} run${failuresInARow === 1 ? '' : 's'} (fail threshold ${rules.maxConsecutiveFailures}), last at ${job.last_run_started_at?.toISOString() ?? 'unknown time'}: ${job.last_error ?? 'no error recorded'}; see timescaledb_information.job_errors, fix the cause, then CALL run_job(${job.job_id}).`,
      });
    }
    const lateStatus = grade(overdueSeconds, rules.jobLateSeconds);
    if (lateStatus !== 'ok') {
      findings.push({
        status: lateStatus,
        reason: 'timescaledb_job_late',
        message: `${name} was due at ${job.next_start?.toISOString() ?? 'unknown time'}, ${formatAge(overdueSeconds)} ago (threshold ${formatAge(rules.jobLateSeconds[lateStatus])}), and has not started: the server's job scheduler is not running it; check timescaledb.max_background_workers and max_worker_processes and the server log.`,
      });
    }
    return {
      jobId: job.job_id,
      proc: job.proc,
      hypertable: job.hypertable,
      scheduled: job.scheduled,
      jobStatus: job.job_status,
      lastRunStatus: job.last_run_status,
      lastRunStartedAt: job.last_run_started_at?.toISOString() ?? null,
      lastSuccessfulFinish: job.last_successful_finish?.toISOString() ?? null,
      nextStart: job.next_start?.toISOString() ?? null,
      overdueSeconds,
      totalRuns: Number(job.total_runs ?? 0),
      totalFailures: Number(job.total_failures ?? 0),
      failuresInARow,
      lastError: failuresInARow > 0 ? job.last_error : null,
    };
  });
  return combine(findings, { mode, schedulerRunning, jobs: evidence });
}

interface SymbolAge {
  symbol: string;
  timeframe: string;
  /** An ingest plan promises this pair; only planned pairs are held to the SLA. */
  planned: boolean;
  newest: string | null;
  ageSeconds: number | null;
  status: 'ok' | 'warn' | 'fail';
}

async function probeBarFreshness(
  { pool, rules, expectations }: TimescaleProbeInput,
  dimension: 'daily' | 'intraday',
  now: Date,
): Promise<CheckOutcome> {
  const sla = rules.freshnessSlaSeconds[dimension];
  const expected = dimension === 'daily' ? expectations.daily : expectations.intraday;
  const pairs = Object.entries(expected).flatMap(([symbol, timeframes]) =>
    timeframes.map((timeframe) => ({ symbol, timeframe })),
  );
  const timeframes = dimension === 'daily' ? ['1d'] : INTRADAY;
  // Expected pairs by index (newest row per primary-key prefix), plus any other symbol that
  // wrote in the recent window, so data nobody planned for is also seen. It is seen, not graded:
  // the SLA is a plan's promise, and a pair nobody planned (a one-off feed, a test's symbols on
  // a shared topic) that stops is no fault of this system.
  const newest = await pool.query<{ symbol: string; timeframe: string; ts: Date | null }>(
    `SELECT e.symbol, e.timeframe,
            (SELECT max(b.ts) FROM market_data.bars b WHERE b.symbol = e.symbol AND b.timeframe = e.timeframe) AS ts
     FROM unnest($1::text[], $2::text[]) AS e(symbol, timeframe)
     UNION
     SELECT symbol, timeframe, max(ts) FROM market_data.bars
     WHERE timeframe = ANY($3::text[]) AND ts > $4::timestamptz - make_interval(secs => $5 * 2)
       AND NOT (symbol, timeframe) IN (SELECT * FROM unnest($1::text[], $2::text[]))
     GROUP BY symbol, timeframe`,
    [pairs.map((p) => p.symbol), pairs.map((p) => p.timeframe), timeframes, now, sla],
  );
  const plannedPairs = new Set(pairs.map((pair) => `${pair.symbol}\u0000${pair.timeframe}`));
  const ages: SymbolAge[] = newest.rows
    .map((row) => {
      const planned = plannedPairs.has(`${row.symbol}\u0000${row.timeframe}`);
      if (row.ts === null) {
        return {
          symbol: row.symbol,
          timeframe: row.timeframe,
          planned,
          newest: null,
          ageSeconds: null,
          status: 'fail' as const,
        };
      }
      const step = timeframeMs[row.timeframe as Timeframe] as number | undefined;
      const closedAt = row.ts.getTime() + (step ?? 0);
      const ageSeconds = Math.max(0, (now.getTime() - closedAt) / 1000);
      return {
        symbol: row.symbol,
        timeframe: row.timeframe,
        planned,
        newest: row.ts.toISOString(),
        ageSeconds: Math.round(ageSeconds),
        status: planned ? grade(ageSeconds, { warn: sla, fail: sla * 2 }) : ('ok' as const),
      };
    })
    .sort((a, b) => a.symbol.localeCompare(b.symbol) || a.timeframe.localeCompare(b.timeframe));
  const evidence: Evidence = {
    slaSeconds: sla,
    expectedSymbols: Object.keys(expected).length,
    symbols: ages,
    oldestAgeSeconds: ages.reduce<number | null>(
      (max, age) => (age.ageSeconds === null ? max : Math.max(max ?? 0, age.ageSeconds)),
      null,
    ),
  };
  return combine(
    ages.map((age) => ({
      status: age.status,
      reason: age.newest === null ? 'expected_symbol_missing' : 'data_stale',
      message:
        age.newest === null
          ? `No ${dimension} ${age.timeframe} bars for ${age.symbol} although an ingest plan expects them; check the plan's last ingest run.`
          : `${dimension} ${age.timeframe} bars of ${age.symbol} are ${formatAge(age.ageSeconds ?? 0)} old (newest ${age.newest}), beyond the ${formatAge(sla)} freshness SLA${age.status === 'fail' ? ' twice over' : ''}; check the ingest plan or feed for ${age.symbol}.`,
    })),
    evidence,
  );
}

async function probeMacroFreshness(
  { pool, rules, expectations }: TimescaleProbeInput,
  now: Date,
): Promise<CheckOutcome> {
  const sla = rules.freshnessSlaSeconds.macro;
  const rows = await pool.query<{ source: string; ingested: Date | null; events: string }>(
    `SELECT s.source, max(m.ingested_at) AS ingested, count(m.*)::text AS events
     FROM (SELECT unnest($1::text[]) AS source UNION SELECT DISTINCT source FROM market_data.macro_events) s
     LEFT JOIN market_data.macro_events m ON m.source = s.source
     GROUP BY s.source ORDER BY s.source`,
    [expectations.macroSources],
  );
  const sources = rows.rows.map((row) => {
    const ageSeconds =
      row.ingested === null ? null : Math.max(0, (now.getTime() - row.ingested.getTime()) / 1000);
    return {
      source: row.source,
      newestIngest: row.ingested?.toISOString() ?? null,
      ageSeconds: ageSeconds === null ? null : Math.round(ageSeconds),
      events: Number(row.events),
      status: ageSeconds === null ? ('fail' as const) : grade(ageSeconds, { warn: sla, fail: sla * 2 }),
    };
  });
  return combine(
    sources.map((source) => ({
      status: source.status,
      reason: source.newestIngest === null ? 'expected_source_missing' : 'data_stale',
      message:
        source.newestIngest === null
          ? `No macro events from ${source.source} although an ingest plan expects them; check the FRED plan's last run.`
          : `Macro events from ${source.source} were last ingested ${formatAge(source.ageSeconds ?? 0)} ago, beyond the ${formatAge(sla)} freshness SLA; check the FRED plan.`,
    })),
    { slaSeconds: sla, sources },
  );
}

async function probeRollupLag({ pool, rules }: TimescaleProbeInput, now: Date): Promise<CheckOutcome> {
  // Uncovered: 1m bars past the newest 1h bucket, inside the window the maintenance rolls up.
  // How long ago the oldest of them was ingested says whether the refresh keeps up, in wall
  // time, whatever the bars' own timestamps (a replayed or synthetic feed runs ahead of them).
  const result = await pool.query<{ bars: Date | null; rollup: Date | null; uncovered: Date | null }>(
    `WITH newest AS (SELECT max(ts) AS rollup FROM market_data.bars_1h)
     SELECT (SELECT max(ts) FROM market_data.bars WHERE timeframe = '1m') AS bars,
            newest.rollup,
            (SELECT min(b.ingested_at) FROM market_data.bars b
              WHERE b.timeframe = '1m'
                AND b.ts >= coalesce(newest.rollup + interval '1 hour', '-infinity'::timestamptz)
                AND b.ts >= $1::timestamptz - make_interval(hours => $2)) AS uncovered
     FROM newest`,
    [now, rules.rollupWindowHours],
  );
  const row = result.rows[0];
  const uncovered = row?.uncovered ?? null;
  const lagSeconds =
    uncovered === null ? 0 : Math.max(0, Math.round((now.getTime() - uncovered.getTime()) / 1000));
  const evidence = {
    newest1mBar: row?.bars?.toISOString() ?? null,
    newestRollupBucket: row?.rollup?.toISOString() ?? null,
    oldestUncoveredIngestedAt: uncovered?.toISOString() ?? null,
    lagSeconds,
  };
  const status = grade(lagSeconds, rules.rollupLagSeconds);
  if (status === 'ok') return ok(evidence);
  return notOk(
    status,
    'rollup_lagging',
    `1m bars ingested ${formatAge(lagSeconds)} ago are not in the 1h rollup market_data.bars_1h yet (threshold ${formatAge(rules.rollupLagSeconds[status])}); check the ingestor's storage maintenance, which refreshes the rollups.`,
    evidence,
  );
}

interface RunRow {
  key: string;
  status: string;
  rows: string;
  started_at: Date;
  error: string | null;
}

async function probeIngestRuns({ pool, rules }: TimescaleProbeInput, now: Date): Promise<CheckOutcome> {
  const recent = await pool.query<RunRow>(
    `SELECT key, status, rows, started_at, error FROM (
       SELECT coalesce(plan, dimension || ':' || source) AS key, status,
              (inserted + updated + unchanged)::text AS rows, started_at, error,
              row_number() OVER (PARTITION BY coalesce(plan, dimension || ':' || source) ORDER BY started_at DESC) AS n
       FROM backbone.ingest_runs WHERE status <> 'running') r
     WHERE n <= 10 ORDER BY key, started_at DESC`,
  );
  const lastHour = await pool.query<{ rows: string | null; runs: string }>(
    `SELECT sum(inserted + updated)::text AS rows, count(*)::text AS runs FROM backbone.ingest_runs
     WHERE started_at > $1::timestamptz - interval '1 hour'`,
    [now],
  );
  const byKey = new Map<string, RunRow[]>();
  for (const row of recent.rows) byKey.set(row.key, [...(byKey.get(row.key) ?? []), row]);
  const findings: Finding[] = [];
  const plans: Evidence[] = [];
  for (const [key, runs] of byKey) {
    const consecutiveFailures = runs.findIndex((run) => run.status !== 'failed');
    const failedInARow = consecutiveFailures === -1 ? runs.length : consecutiveFailures;
    const succeeded = runs.filter((run) => run.status !== 'failed').map((run) => Number(run.rows));
    const latest = succeeded[0];
    const previous = succeeded.slice(1);
    const median = previous.length >= 3 ? medianOf(previous) : null;
    plans.push({
      plan: key,
      latestStatus: runs[0]?.status ?? null,
      latestStartedAt: runs[0]?.started_at.toISOString() ?? null,
      failedInARow,
      latestRows: latest ?? null,
      medianRowsBefore: median,
    });
    if (failedInARow > 0) {
      const lastError = runs[0]?.error ?? 'no error recorded';
      findings.push({
        status: failedInARow >= rules.maxConsecutiveFailures ? 'fail' : 'warn',
        reason: 'ingest_runs_failing',
        message: `Ingest ${key} failed its last ${failedInARow} run${failedInARow === 1 ? '' : 's'} (fail threshold ${rules.maxConsecutiveFailures}); last error: ${lastError}.`,
      });
    } else if (latest !== undefined && median !== null && median > 0 && latest < median / 2) {
      findings.push({
        status: 'warn',
        reason: 'ingest_rows_dropping',
        message: `Ingest ${key} wrote ${formatCount(latest)} rows in its latest run, less than half the median ${formatCount(median)} of the runs before; check the provider's coverage.`,
      });
    }
  }
  return combine(findings, {
    plans,
    rowsLastHour: Number(lastHour.rows[0]?.rows ?? 0),
    runsLastHour: Number(lastHour.rows[0]?.runs ?? 0),
  });
}

function medianOf(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[middle] ?? 0)
    : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
}
