import type { SqlExecutor } from './sql-executor.ts';
import type { StorageMode } from './storage-mode.ts';
import type { StorageOptions } from './storage-options.ts';

/** What reconciling one policy with the storage options did. */
export interface PolicyChange {
  /** The table or rollup the policy belongs to, e.g. `market_data.bars`. */
  target: string;
  policy: 'chunk_interval' | 'partitioning' | 'retention' | 'compression' | 'refresh' | 'bar_retention';
  action: 'created' | 'replaced' | 'removed' | 'unchanged';
  /** The policy now in force, in PostgreSQL interval text; null when removed. */
  value: string | null;
}

/** The outcome of {@link applyStoragePolicies}. */
export interface StoragePoliciesResult {
  changes: PolicyChange[];
  /** Partitions created ahead of time (plain PostgreSQL only). */
  partitionsCreated: string[];
}

const TABLES = [
  { table: 'market_data.bars', name: 'bars', key: 'bars' },
  { table: 'market_data.ticks', name: 'ticks', key: 'ticks' },
  { table: 'market_data.macro_events', name: 'macro_events', key: 'macroEvents' },
] as const;

/**
 * Makes the database's retention, chunking, compression and refresh policies equal to the
 * storage options; runs after every migrate, so a config change needs no new migration. Only
 * what differs is touched, and every policy is reported.
 *
 * @example const { changes } = await applyStoragePolicies(client, 'timescaledb', resolveStorageOptions());
 */
export async function applyStoragePolicies(
  client: SqlExecutor,
  mode: StorageMode,
  options: StorageOptions,
): Promise<StoragePoliciesResult> {
  const changes = await reconcileBarRetention(client, options);
  if (mode === 'timescaledb') {
    changes.push(...(await reconcileTimescale(client, options)));
    return { changes, partitionsCreated: [] };
  }
  changes.push(...(await reconcilePartitionPolicies(client, options)));
  const created = await client.query<{ partition_name: string }>(
    'SELECT partition_name FROM backbone.premake_partitions(now())',
  );
  return { changes, partitionsCreated: created.rows.map((row) => row.partition_name) };
}

async function reconcileBarRetention(client: SqlExecutor, options: StorageOptions): Promise<PolicyChange[]> {
  const current = await client.query<{ timeframe: string; days: number }>(
    `SELECT timeframe, extract(day FROM retention)::int AS days FROM backbone.bar_retention`,
  );
  const existing = new Map(current.rows.map((row) => [row.timeframe, row.days]));
  const changes: PolicyChange[] = [];
  for (const [timeframe, days] of Object.entries(options.retentionDays.bars)) {
    const before = existing.get(timeframe);
    existing.delete(timeframe);
    const target = `market_data.bars[timeframe=${timeframe}]`;
    const value = `${days} days`;
    if (before === days) {
      changes.push({ target, policy: 'bar_retention', action: 'unchanged', value });
      continue;
    }
    await client.query(
      `INSERT INTO backbone.bar_retention (timeframe, retention) VALUES ($1, make_interval(days => $2))
       ON CONFLICT (timeframe) DO UPDATE SET retention = excluded.retention, updated_at = now()`,
      [timeframe, days],
    );
    changes.push({
      target,
      policy: 'bar_retention',
      action: before === undefined ? 'created' : 'replaced',
      value,
    });
  }
  for (const timeframe of existing.keys()) {
    await client.query('DELETE FROM backbone.bar_retention WHERE timeframe = $1', [timeframe]);
    changes.push({
      target: `market_data.bars[timeframe=${timeframe}]`,
      policy: 'bar_retention',
      action: 'removed',
      value: null,
    });
  }
  return changes;
}

async function reconcilePartitionPolicies(
  client: SqlExecutor,
  options: StorageOptions,
): Promise<PolicyChange[]> {
  const changes: PolicyChange[] = [];
  for (const { table, key } of TABLES) {
    const width = options.chunkIntervalDays[key];
    // Bars have no whole-partition retention: theirs is per timeframe (bar_retention).
    const retention = key === 'bars' ? null : options.retentionDays[key];
    const updated = await client.query(
      `UPDATE backbone.partition_policies
       SET width = make_interval(days => $2), premake = $3, retention = make_interval(days => $4), updated_at = now()
       WHERE parent = $1
         AND (width, premake, retention) IS DISTINCT FROM (make_interval(days => $2), $3, make_interval(days => $4))
       RETURNING parent`,
      [table, width, options.partitionsAhead, retention],
    );
    const action = updated.rows.length > 0 ? 'replaced' : 'unchanged';
    changes.push({ target: table, policy: 'partitioning', action, value: `${width} days` });
    if (retention !== null)
      changes.push({ target: table, policy: 'retention', action, value: `${retention} days` });
  }
  return changes;
}

async function reconcileTimescale(client: SqlExecutor, options: StorageOptions): Promise<PolicyChange[]> {
  const changes: PolicyChange[] = [];
  for (const { table, name, key } of TABLES) {
    const interval = `${options.chunkIntervalDays[key]} days`;
    const same = await client.query<{ same: boolean }>(
      `SELECT time_interval = $2::interval AS same FROM timescaledb_information.dimensions
       WHERE hypertable_schema = 'market_data' AND hypertable_name = $1 AND dimension_number = 1`,
      [name, interval],
    );
    if (same.rows[0]?.same === true) {
      changes.push({ target: table, policy: 'chunk_interval', action: 'unchanged', value: interval });
    } else {
      await client.query('SELECT set_chunk_time_interval($1::regclass, $2::interval)', [table, interval]);
      changes.push({ target: table, policy: 'chunk_interval', action: 'replaced', value: interval });
    }
    changes.push(
      await reconcileJob(client, {
        target: table,
        policy: 'compression',
        proc: 'policy_compression',
        jobName: name,
        wanted: { compress_after: `${options.compressAfterDays} days` },
        remove: 'SELECT remove_compression_policy($1::regclass, if_exists => true)',
        add: 'SELECT add_compression_policy($1::regclass, compress_after => $2::interval)',
      }),
    );
    // Bars expire per timeframe through the prune job below, not through drop_chunks.
    if (key !== 'bars') {
      changes.push(
        await reconcileJob(client, {
          target: table,
          policy: 'retention',
          proc: 'policy_retention',
          jobName: name,
          wanted: { drop_after: `${options.retentionDays[key]} days` },
          remove: 'SELECT remove_retention_policy($1::regclass, if_exists => true)',
          add: 'SELECT add_retention_policy($1::regclass, drop_after => $2::interval)',
        }),
      );
    }
  }
  for (const [rollup, policy] of [
    ['bars_1h', options.rollups.hourly],
    ['bars_1d', options.rollups.daily],
  ] as const) {
    changes.push(
      await reconcileJob(client, {
        target: `market_data.${rollup}`,
        policy: 'refresh',
        proc: 'policy_refresh_continuous_aggregate',
        jobName: rollup,
        wanted: {
          start_offset: `${policy.startOffsetHours} hours`,
          end_offset: `${policy.endOffsetHours} hours`,
          schedule_interval: `${policy.scheduleMinutes} minutes`,
        },
        remove: 'SELECT remove_continuous_aggregate_policy($1::regclass, if_exists => true)',
        add: `SELECT add_continuous_aggregate_policy($1::regclass,
                start_offset => $2::interval, end_offset => $3::interval, schedule_interval => $4::interval)`,
      }),
    );
  }
  changes.push(await ensurePruneBarsJob(client));
  return changes;
}

interface JobSpec {
  target: string;
  policy: PolicyChange['policy'];
  proc: string;
  jobName: string;
  /** Wanted settings, compared with the job's config (schedule_interval with the job itself). */
  wanted: Record<string, string>;
  remove: string;
  add: string;
}

async function reconcileJob(client: SqlExecutor, spec: JobSpec): Promise<PolicyChange> {
  const keys = Object.keys(spec.wanted);
  const value = keys.map((key) => `${key}=${spec.wanted[key] ?? ''}`).join(', ');
  // Compare as intervals in SQL ('1 day' = '24:00:00'), not as text.
  const existing = await client.query<{ same: boolean }>(
    `SELECT bool_and(
       coalesce(CASE w.key WHEN 'schedule_interval' THEN j.schedule_interval
                           ELSE (j.config ->> w.key)::interval END = w.value::interval, false)) AS same
     FROM timescaledb_information.jobs j
     CROSS JOIN jsonb_each_text($3::jsonb) AS w(key, value)
     WHERE j.proc_name = $1 AND j.hypertable_schema = 'market_data' AND j.hypertable_name = $2
     GROUP BY j.job_id`,
    [spec.proc, spec.jobName, JSON.stringify(spec.wanted)],
  );
  const current = existing.rows[0];
  if (current?.same === true) return { target: spec.target, policy: spec.policy, action: 'unchanged', value };
  if (current !== undefined) await client.query(spec.remove, [spec.target]);
  await client.query(spec.add, [spec.target, ...keys.map((key) => spec.wanted[key])]);
  return {
    target: spec.target,
    policy: spec.policy,
    action: current === undefined ? 'created' : 'replaced',
    value,
  };
}

async function ensurePruneBarsJob(client: SqlExecutor): Promise<PolicyChange> {
  const change = {
    target: 'market_data.bars',
    policy: 'bar_retention',
    value: 'job backbone.prune_bars_job',
  } as const;
  const existing = await client.query(
    `SELECT 1 FROM timescaledb_information.jobs WHERE proc_schema = 'backbone' AND proc_name = 'prune_bars_job'`,
  );
  if (existing.rows.length > 0) return { ...change, action: 'unchanged' };
  await client.query(`SELECT add_job('backbone.prune_bars_job', INTERVAL '1 hour')`);
  return { ...change, action: 'created' };
}
