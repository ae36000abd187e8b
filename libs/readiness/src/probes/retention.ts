import type { SystemConfig } from '@backbone/config';
import { storageMode, type SqlExecutor } from '@backbone/db';
import { combine, formatAge, type CheckOutcome, type Evidence, type Finding } from '../check.ts';
import type { CheckDefinition } from '../run-check.ts';

type StorageConfig = SystemConfig['storage'];

const DAY_S = 86_400;

/** How a retention target is enforced, and when that last happened. */
interface Enforcement {
  /** The policy or job that enforces it, or null when nothing does. */
  policy: string | null;
  /** The retention the database enforces, in days, or null when none. */
  enforcedDays: number | null;
  lastRun: string | null;
  lastRunStatus: string | null;
  lastSuccess: string | null;
  totalFailures: number | null;
}

/**
 * Retention telemetry per table: the configured target, the oldest data actually stored, and the
 * database policy or job that enforces the target with its last run. A missing or failing policy
 * fails; data older than target + one chunk width (the enforcement did not run) warns.
 *
 * @example const checks = retentionChecks({ pool, storage: config.storage });
 */
export function retentionChecks(input: {
  pool: SqlExecutor;
  storage: StorageConfig;
  now?: () => Date;
}): CheckDefinition[] {
  const now = input.now ?? (() => new Date());
  return [
    {
      name: 'retention.bars',
      component: 'retention',
      run: () => probeBars(input.pool, input.storage, now()),
    },
    {
      name: 'retention.ticks',
      component: 'retention',
      run: () =>
        probeTable(
          input.pool,
          'market_data.ticks',
          input.storage.retentionDays.ticks,
          input.storage.chunkIntervalDays.ticks,
          now(),
        ),
    },
    {
      name: 'retention.macro_events',
      component: 'retention',
      run: () =>
        probeTable(
          input.pool,
          'market_data.macro_events',
          input.storage.retentionDays.macroEvents,
          input.storage.chunkIntervalDays.macroEvents,
          now(),
        ),
    },
  ];
}

async function probeTable(
  pool: SqlExecutor,
  table: 'market_data.ticks' | 'market_data.macro_events',
  targetDays: number,
  widthDays: number,
  now: Date,
): Promise<CheckOutcome> {
  // The table name comes from the fixed list above, never from input.
  const oldest = await pool.query<{ ts: Date | null }>(`SELECT ts FROM ${table} ORDER BY ts LIMIT 1`);
  const enforcement = await enforcementOf(pool, table);
  const oldestTs = oldest.rows[0]?.ts ?? null;
  const findings = judge(table, targetDays, widthDays, oldestTs, enforcement, now);
  const mode = await storageMode(pool);
  const chunks = mode === 'timescaledb' ? await chunkRanges(pool, table) : null;
  if (chunks !== null) findings.push(...judgeChunks(table, targetDays, chunks, now));
  return combine(findings, {
    table,
    targetDays,
    oldestData: oldestTs?.toISOString() ?? null,
    oldestAgeDays: ageDays(oldestTs, now),
    ...enforcement,
    ...(chunks === null ? {} : { chunks }),
  });
}

/** The chunks of a hypertable as TimescaleDB has them (timescaledb_information.chunks). */
interface ChunkRanges {
  count: number;
  compressed: number;
  /** The oldest chunk: its name and time range `[rangeStart, rangeEnd)`, null when none. */
  oldest: { chunk: string; rangeStart: string; rangeEnd: string } | null;
  newest: { chunk: string; rangeStart: string; rangeEnd: string } | null;
}

async function chunkRanges(pool: SqlExecutor, table: string): Promise<ChunkRanges> {
  const [schema, name] = table.split('.');
  const chunks = await pool.query<{
    chunk: string;
    range_start: Date;
    range_end: Date;
    is_compressed: boolean;
  }>(
    `SELECT chunk_schema || '.' || chunk_name AS chunk, range_start, range_end, is_compressed
     FROM timescaledb_information.chunks WHERE hypertable_schema = $1 AND hypertable_name = $2
     ORDER BY range_start`,
    [schema, name],
  );
  const describe = (row: (typeof chunks.rows)[number] | undefined) =>
    row === undefined
      ? null
      : {
          chunk: row.chunk,
          rangeStart: row.range_start.toISOString(),
          rangeEnd: row.range_end.toISOString(),
        };
  return {
    count: chunks.rows.length,
    compressed: chunks.rows.filter((row) => row.is_compressed).length,
    oldest: describe(chunks.rows[0]),
    newest: describe(chunks.rows.at(-1)),
  };
}

// The retention policies run daily (TimescaleDB's default for add_retention_policy): a chunk
// may outlive its retention by that much before it counts as overdue.
const RETENTION_RUN_DAYS = 1;

/**
 * drop_chunks drops a chunk once its whole range is older than the retention: a chunk that ended
 * more than the retention plus one run of the policy ago should be gone.
 */
function judgeChunks(table: string, targetDays: number, chunks: ChunkRanges, now: Date): Finding[] {
  if (chunks.oldest === null) return [];
  const endedDaysAgo = (now.getTime() - Date.parse(chunks.oldest.rangeEnd)) / 1000 / DAY_S;
  if (endedDaysAgo <= targetDays + RETENTION_RUN_DAYS) return [];
  return [
    {
      status: 'warn',
      reason: 'retention_overdue',
      message: `${table}: chunk ${chunks.oldest.chunk} [${chunks.oldest.rangeStart}, ${chunks.oldest.rangeEnd}) ended ${formatAge(endedDaysAgo * DAY_S)} ago, past the ${targetDays}-day retention, and is still there; the TimescaleDB retention job has not dropped it (see check timescaledb.jobs).`,
    },
  ];
}

async function probeBars(pool: SqlExecutor, storage: StorageConfig, now: Date): Promise<CheckOutcome> {
  const findings: Finding[] = [];
  const timeframes: Evidence[] = [];
  const mode = await storageMode(pool);
  const rules = await pool.query<{ timeframe: string; days: number }>(
    `SELECT timeframe, extract(day FROM retention)::int AS days FROM backbone.bar_retention`,
  );
  const enforced = new Map(rules.rows.map((row) => [row.timeframe, row.days]));
  const job = mode === 'timescaledb' ? await timescaleJob(pool, 'prune_bars_job', null) : null;
  const targets = Object.entries(storage.retentionDays.bars);
  // One pass for every timeframe: a query per timeframe planned and scanned every partition
  // once each (a timeframe with no rows, like 5m by default, never stops early), which took a
  // loaded `npm start` past the probe timeout in most rounds.
  const oldestRows = await pool.query<{ timeframe: string; ts: Date }>(
    'SELECT timeframe, min(ts) AS ts FROM market_data.bars WHERE timeframe = ANY($1::text[]) GROUP BY timeframe',
    [targets.map(([timeframe]) => timeframe)],
  );
  const oldestByTimeframe = new Map(oldestRows.rows.map((row) => [row.timeframe, row.ts]));
  for (const [timeframe, targetDays] of targets) {
    const enforcedDays = enforced.get(timeframe) ?? null;
    const enforcement: Enforcement =
      job !== null
        ? { ...job }
        : {
            policy:
              enforcedDays === null ? null : 'backbone.prune_bars (called by the partition maintenance)',
            enforcedDays,
            lastRun: null,
            lastRunStatus: null,
            lastSuccess: null,
            totalFailures: null,
          };
    enforcement.enforcedDays = enforcedDays;
    if (enforcedDays === null) enforcement.policy = null;
    const oldestTs = oldestByTimeframe.get(timeframe) ?? null;
    findings.push(
      ...judge(
        `market_data.bars ${timeframe}`,
        targetDays,
        storage.chunkIntervalDays.bars,
        oldestTs,
        enforcement,
        now,
      ),
    );
    timeframes.push({
      timeframe,
      targetDays,
      oldestData: oldestTs?.toISOString() ?? null,
      oldestAgeDays: ageDays(oldestTs, now),
      ...enforcement,
    });
  }
  // Bars expire by DELETE per timeframe, not by dropping chunks: the ranges are evidence only.
  const chunks = mode === 'timescaledb' ? await chunkRanges(pool, 'market_data.bars') : null;
  return combine(findings, {
    table: 'market_data.bars',
    mode,
    timeframes,
    ...(chunks === null ? {} : { chunks }),
  });
}

function judge(
  what: string,
  targetDays: number,
  widthDays: number,
  oldest: Date | null,
  enforcement: Enforcement,
  now: Date,
): Finding[] {
  const findings: Finding[] = [];
  if (enforcement.policy === null || enforcement.enforcedDays === null) {
    findings.push({
      status: 'fail',
      reason: 'retention_not_enforced',
      message: `${what}: no retention policy enforces the configured ${targetDays} days; run ./backbone migrate to install it.`,
    });
  } else if (enforcement.enforcedDays !== targetDays) {
    findings.push({
      status: 'warn',
      reason: 'retention_policy_drift',
      message: `${what}: the database enforces ${enforcement.enforcedDays} days but the config says ${targetDays}; run ./backbone migrate to apply the config.`,
    });
  }
  if (enforcement.lastRunStatus !== null && enforcement.lastRunStatus.toLowerCase() === 'failed') {
    findings.push({
      status: 'fail',
      reason: 'retention_job_failing',
      message: `${what}: the retention job ${enforcement.policy ?? ''} failed its last run at ${enforcement.lastRun ?? 'unknown time'} (${enforcement.totalFailures ?? 0} failures in total); see timescaledb_information.job_errors.`,
    });
  }
  const age = ageDays(oldest, now);
  if (age !== null && age > targetDays + widthDays) {
    findings.push({
      status: 'warn',
      reason: 'retention_overdue',
      message: `${what}: the oldest data is ${formatAge(age * DAY_S)} old, beyond the ${targetDays}-day target plus one ${widthDays}-day chunk; the retention job has not run (plain PostgreSQL needs the periodic partition maintenance).`,
    });
  }
  return findings;
}

async function enforcementOf(
  pool: SqlExecutor,
  table: 'market_data.ticks' | 'market_data.macro_events',
): Promise<Enforcement> {
  if ((await storageMode(pool)) === 'timescaledb') {
    const job = await timescaleJob(pool, 'policy_retention', table.split('.')[1] ?? '');
    return job ?? emptyEnforcement();
  }
  const policy = await pool.query<{ days: number | null }>(
    `SELECT extract(day FROM retention)::int AS days FROM backbone.partition_policies WHERE parent = $1`,
    [table],
  );
  const days = policy.rows[0]?.days ?? null;
  return {
    ...emptyEnforcement(),
    policy: days === null ? null : 'backbone.maintain_partitions (partition drop)',
    enforcedDays: days,
  };
}

function emptyEnforcement(): Enforcement {
  return {
    policy: null,
    enforcedDays: null,
    lastRun: null,
    lastRunStatus: null,
    lastSuccess: null,
    totalFailures: null,
  };
}

async function timescaleJob(
  pool: SqlExecutor,
  procName: string,
  hypertable: string | null,
): Promise<Enforcement | null> {
  const jobs = await pool.query<{
    job_id: number;
    drop_after: string | null;
    last_run_started_at: Date | null;
    last_run_status: string | null;
    last_successful_finish: Date | null;
    total_failures: string | null;
  }>(
    // A job that never ran (or never succeeded) has -infinity there, which is no Date.
    `SELECT j.job_id, j.config->>'drop_after' AS drop_after,
            CASE WHEN isfinite(s.last_run_started_at) THEN s.last_run_started_at END AS last_run_started_at,
            s.last_run_status,
            CASE WHEN isfinite(s.last_successful_finish) THEN s.last_successful_finish END AS last_successful_finish,
            s.total_failures::text AS total_failures
     FROM timescaledb_information.jobs j
     LEFT JOIN timescaledb_information.job_stats s ON s.job_id = j.job_id
     WHERE j.proc_name = $1 AND ($2::text IS NULL OR (j.hypertable_schema = 'market_data' AND j.hypertable_name = $2))
     ORDER BY j.job_id LIMIT 1`,
    [procName, hypertable],
  );
  const job = jobs.rows[0];
  if (job === undefined) return null;
  const dropAfterDays = job.drop_after === null ? null : /^(\d+) days?$/.exec(job.drop_after)?.[1];
  return {
    policy: `TimescaleDB job ${job.job_id} (${procName})`,
    enforcedDays: dropAfterDays === null || dropAfterDays === undefined ? null : Number(dropAfterDays),
    lastRun: job.last_run_started_at?.toISOString() ?? null,
    lastRunStatus: job.last_run_status,
    lastSuccess: job.last_successful_finish?.toISOString() ?? null,
    totalFailures: job.total_failures === null ? null : Number(job.total_failures),
  };
}

function ageDays(ts: Date | null, now: Date): number | null {
  if (ts === null) return null;
  return Math.round(((now.getTime() - ts.getTime()) / 1000 / DAY_S) * 10) / 10;
}
