import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { restartDelayMs, type BackoffPolicy } from '@backbone/supervisor';
import { sqlState } from './database-errors.ts';
import type { SqlExecutor } from './sql-executor.ts';
import { storageMode, type StorageMode } from './storage-mode.ts';

/** What one maintenance pass did. */
export interface StorageMaintenanceResult {
  mode: StorageMode;
  /** Partitions created ahead (plain PostgreSQL; TimescaleDB creates chunks on insert). */
  created: string[];
  /** Partitions or chunks dropped because they fell out of retention. */
  dropped: string[];
  /** Expired bars deleted per timeframe (per-timeframe bar retention). */
  barsPruned: Record<string, number>;
}

/**
 * One retention pass: creates partitions ahead and drops expired ones (plain PostgreSQL), or
 * runs the TimescaleDB retention, compression and bar-prune jobs now instead of waiting for the
 * job scheduler. Plain PostgreSQL has no scheduler: a worker must call this periodically.
 * Needs one dedicated connection outside a transaction (TimescaleDB's run_job commits itself).
 *
 * @example const { dropped } = await runStorageMaintenance(client);
 */
export async function runStorageMaintenance(
  client: SqlExecutor,
  options: { at?: Date } = {},
): Promise<StorageMaintenanceResult> {
  const mode = await storageMode(client);
  if (mode === 'postgres-partitioned') {
    // prune_bars runs first so that bar partitions emptied by it are dropped in the same pass.
    const pruned = await client.query<{ timeframe: string; deleted: string }>(
      'SELECT timeframe, deleted FROM backbone.prune_bars($1)',
      [options.at ?? new Date()],
    );
    const actions = await client.query<{ partition_name: string; action: string }>(
      'SELECT partition_name, action FROM backbone.maintain_partitions($1)',
      [options.at ?? new Date()],
    );
    return {
      mode,
      created: actions.rows.filter((row) => row.action === 'created').map((row) => row.partition_name),
      dropped: actions.rows.filter((row) => row.action === 'dropped').map((row) => row.partition_name),
      barsPruned: Object.fromEntries(pruned.rows.map((row) => [row.timeframe, Number(row.deleted)])),
    };
  }
  if (options.at !== undefined) {
    throw new RangeError(
      'runStorageMaintenance: `at` is not supported with TimescaleDB (its jobs use now())',
    );
  }
  const before = await chunkNames(client);
  const pruned = await client.query<{ timeframe: string; deleted: string }>(
    'SELECT timeframe, deleted FROM backbone.prune_bars(now())',
  );
  const jobs = await client.query<{ job_id: number }>(
    `SELECT job_id FROM timescaledb_information.jobs
     WHERE hypertable_schema = 'market_data' AND proc_name IN ('policy_retention', 'policy_compression')
     ORDER BY proc_name DESC, job_id`,
  );
  for (const { job_id: jobId } of jobs.rows) await client.query(`CALL run_job(${jobId})`);
  const after = new Set(await chunkNames(client));
  return {
    mode,
    created: [],
    dropped: before.filter((chunk) => !after.has(chunk)),
    barsPruned: Object.fromEntries(pruned.rows.map((row) => [row.timeframe, Number(row.deleted)])),
  };
}

async function chunkNames(client: SqlExecutor): Promise<string[]> {
  const chunks = await client.query<{ chunk: string }>(
    `SELECT chunk_schema || '.' || chunk_name AS chunk FROM timescaledb_information.chunks
     WHERE hypertable_schema = 'market_data' ORDER BY 1`,
  );
  return chunks.rows.map((row) => row.chunk);
}

/** What {@link refreshRollups} refreshed. */
export interface RefreshRollupsResult {
  mode: StorageMode;
  /** The window actually refreshed: the requested one widened to whole days (UTC). */
  from: Date;
  to: Date;
  /** Identifies this refresh in its {@link ROLLUPS_REFRESHED_CHANNEL} notification. */
  refreshId: string;
}

/**
 * The channel {@link refreshRollups} NOTIFYs after a refresh (payload: {@link RollupsRefreshed}
 * as JSON). The cache-warmer LISTENs to it: rollup slices are re-warmed when the rollups change,
 * not when 1m bars arrive (the rollup tables do not hold those bars until the next refresh).
 */
export const ROLLUPS_REFRESHED_CHANNEL = 'backbone_rollups_refreshed';

/** The payload of a {@link ROLLUPS_REFRESHED_CHANNEL} notification. */
export interface RollupsRefreshed {
  refreshId: string;
  /** The refreshed window `[from, to)`, ISO-8601 UTC. */
  from: string;
  to: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * Validates a {@link ROLLUPS_REFRESHED_CHANNEL} payload; `undefined` when it is not one.
 *
 * @example const refreshed = parseRollupsRefreshed(notification.payload);
 */
export function parseRollupsRefreshed(unvalidatedPayload: string | undefined): RollupsRefreshed | undefined {
  let value: unknown;
  try {
    value = JSON.parse(unvalidatedPayload ?? '');
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const { refreshId, from, to } = value as Record<string, unknown>;
  if (typeof refreshId !== 'string' || !UUID.test(refreshId)) return undefined;
  if (typeof from !== 'string' || typeof to !== 'string') return undefined;
  const fromMs = Date.parse(from);
  const toMs = Date.parse(to);
  if (!(fromMs <= toMs)) return undefined;
  return { refreshId, from: new Date(fromMs).toISOString(), to: new Date(toMs).toISOString() };
}

const DAY_MS = 86_400_000;

/** How {@link refreshRollups} waits out a concurrent refresh of the same continuous aggregate. */
export interface RefreshRollupsOptions {
  /** How long to keep retrying while another session refreshes an overlapping window. Default 60 s. */
  concurrentRefreshTimeoutMs?: number;
  /** Stops the waiting at once (the worker is shutting down): the refresh rejects with an AbortError. */
  signal?: AbortSignal;
}

// TimescaleDB refuses a refresh whose window overlaps one in progress in another session (its
// own refresh policy job, or another refreshRollups) with lock_not_available instead of waiting.
const CONCURRENT_REFRESH = '55P03';
const CONCURRENT_REFRESH_TIMEOUT_MS = 60_000;
const CONCURRENT_REFRESH_BACKOFF: BackoffPolicy = { initialMs: 100, factor: 2, maxMs: 5_000, jitter: 0.2 };

/**
 * CALL refresh_continuous_aggregate, retried with backoff while another session refreshes an
 * overlapping window: the caller asked for its window to be refreshed, and the other refresh
 * may cover a different window (the policy job's is the last few days), so it is waited out,
 * then this one runs. Gives up after the timeout, naming the rollup.
 */
async function refreshContinuousAggregate(
  client: SqlExecutor,
  rollup: string,
  from: Date,
  to: Date,
  { concurrentRefreshTimeoutMs = CONCURRENT_REFRESH_TIMEOUT_MS, signal }: RefreshRollupsOptions,
): Promise<void> {
  const deadline = Date.now() + concurrentRefreshTimeoutMs;
  for (let attempt = 1; ; attempt++) {
    try {
      await client.query(
        'CALL refresh_continuous_aggregate($1::regclass, $2::timestamptz, $3::timestamptz)',
        [rollup, from, to],
      );
      return;
    } catch (error) {
      if (sqlState(error) !== CONCURRENT_REFRESH) throw error;
      const delayMs = restartDelayMs(attempt, CONCURRENT_REFRESH_BACKOFF, Math.random);
      if (Date.now() + delayMs > deadline) {
        throw new Error(
          `refreshRollups: ${rollup} [${from.toISOString()}, ${to.toISOString()}) could not be refreshed: ` +
            `another session was still refreshing an overlapping window after ${String(concurrentRefreshTimeoutMs)} ms ` +
            '(a TimescaleDB refresh policy job or another refreshRollups; see timescaledb_information.job_stats ' +
            'and pg_stat_activity); run it again once that refresh has finished',
          { cause: error },
        );
      }
      await sleep(delayMs, undefined, { signal });
    }
  }
}

/**
 * Recomputes the 1h and 1d rollups (`market_data.bars_1h`, `market_data.bars_1d`) of the 1m
 * bars in a window, widened to whole UTC days so both rollups see whole buckets. TimescaleDB
 * refreshes its continuous aggregates; plain PostgreSQL upserts the rollup tables. Run it
 * after bars are committed, outside a transaction (refresh_continuous_aggregate requires that).
 * Then NOTIFYs {@link ROLLUPS_REFRESHED_CHANNEL}, so the cache re-warms its rollup slices from
 * the refreshed tables (on plain PostgreSQL inside a caller's transaction, delivered at commit).
 * On TimescaleDB a refresh of an overlapping window in progress elsewhere (its refresh policy
 * job) is waited out with backoff, up to `options.concurrentRefreshTimeoutMs` or until
 * `options.signal` aborts.
 *
 * @example await refreshRollups(client, { from: run.windowStart, to: run.windowEnd });
 */
export async function refreshRollups(
  client: SqlExecutor,
  window: { from: Date; to: Date },
  options: RefreshRollupsOptions = {},
): Promise<RefreshRollupsResult> {
  if (!(window.from.getTime() <= window.to.getTime())) {
    throw new RangeError('refreshRollups: window.from must not be after window.to');
  }
  const from = new Date(Math.floor(window.from.getTime() / DAY_MS) * DAY_MS);
  const to = new Date(Math.floor(window.to.getTime() / DAY_MS) * DAY_MS + DAY_MS);
  const mode = await storageMode(client);
  for (const [rollup, unit] of [
    ['market_data.bars_1h', 'hour'],
    ['market_data.bars_1d', 'day'],
  ] as const) {
    if (mode === 'timescaledb') {
      await refreshContinuousAggregate(client, rollup, from, to, options);
    } else {
      await client.query('SELECT * FROM market_data.refresh_rollup($1::regclass, $2, $3, $4)', [
        rollup,
        unit,
        from,
        to,
      ]);
    }
  }
  const refreshId = randomUUID();
  const payload: RollupsRefreshed = { refreshId, from: from.toISOString(), to: to.toISOString() };
  await client.query('SELECT pg_notify($1, $2)', [ROLLUPS_REFRESHED_CHANNEL, JSON.stringify(payload)]);
  return { mode, from, to, refreshId };
}
