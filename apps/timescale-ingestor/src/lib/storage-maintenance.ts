import { setTimeout as sleep } from 'node:timers/promises';
import {
  pruneSystemTables,
  refreshRollups,
  runStorageMaintenance,
  storageMode,
  systemPruneRules,
  type SystemRetentionDays,
} from '@backbone/db';
import type { ChildSpec } from '@backbone/supervisor';
import type { Logger } from '@backbone/telemetry';
import type pg from 'pg';

export interface StorageMaintenanceOptions {
  pool: pg.Pool;
  logger: Logger;
  /** Pause between two passes. */
  intervalMs: number;
  /** After the first pass, rollups are recomputed over this much recent history each pass. */
  recentWindowMs: number;
  /** `storage.systemRetention`: how long the system tables keep their rows, and the DELETE batch size. */
  systemRetention: SystemRetentionDays & { pruneBatchRows: number };
  now?: () => Date;
}

/**
 * The supervised child that keeps storage in shape where nothing else does: plain PostgreSQL has
 * no job scheduler, so without it no partition would be created ahead, nothing would ever be
 * pruned and the 1h/1d rollups would stay empty. Each pass runs, on plain PostgreSQL, the
 * retention pass (partitions ahead, expired partitions and bars dropped); on TimescaleDB the
 * server's job scheduler runs retention, compression and the bar prune on their schedules, so the
 * pass leaves them to it (running them here too would only race the scheduler; readiness'
 * `timescaledb.jobs` check says when the scheduler fails or falls behind). In both modes it
 * recomputes the rollups: the first pass over all 1m bars, later passes over the recent window,
 * where the feed and the schedules write (the refresh policies stop `endOffsetHours` short of
 * now; this keeps the newest buckets fresh). It also prunes the system tables by their retention (published and
 * dead outbox events, readiness snapshots, finished ingest runs, rejected rows) in small batches,
 * and logs what it deleted and each table's size. Passes are idempotent, so several ingestor instances may run them.
 * A failed pass is logged and retried on the next one; it never stops the worker.
 */
export function storageMaintenanceChild(options: StorageMaintenanceOptions): ChildSpec {
  const now = options.now ?? (() => new Date());
  return {
    name: 'storage-maintenance',
    restart: 'permanent',
    metadata: { intervalMs: options.intervalMs },
    start: async (signal) => {
      let first = true;
      while (!signal.aborted) {
        try {
          await maintainOnce(options, now(), first, signal);
          first = false;
        } catch (error) {
          // A pass cut short by the shutdown did not fail: the supervisor counts it as stopped.
          if (error instanceof Error && error.name === 'AbortError') throw error;
          options.logger.warn({ err: error }, 'storage maintenance pass failed; retrying next pass');
        }
        await sleep(options.intervalMs, undefined, { signal }).catch(() => undefined);
      }
    },
  };
}

async function maintainOnce(
  options: StorageMaintenanceOptions,
  at: Date,
  everything: boolean,
  signal: AbortSignal,
): Promise<void> {
  const client = await options.pool.connect();
  try {
    // TimescaleDB's jobs use the server's now(), so `at` is only passed where it applies.
    const retention =
      (await storageMode(client)) === 'postgres-partitioned'
        ? await runStorageMaintenance(client, { at })
        : undefined;
    let from = new Date(at.getTime() - options.recentWindowMs);
    if (everything) {
      const oldest = await client.query<{ oldest: Date | null }>(
        "SELECT min(ts) AS oldest FROM market_data.bars WHERE timeframe = '1m'",
      );
      from = oldest.rows[0]?.oldest ?? from;
    }
    // A refresh waiting out TimescaleDB's own refresh job must not hold up a shutdown.
    const rollups = await refreshRollups(client, { from, to: at }, { signal });
    const system = await pruneSystemTables(client, systemPruneRules(options.systemRetention), {
      batchRows: options.systemRetention.pruneBatchRows,
      at,
    });
    options.logger.info(
      {
        mode: rollups.mode,
        retention: retention === undefined ? 'timescaledb job scheduler' : 'this pass',
        partitionsCreated: retention?.created.length ?? 0,
        partitionsDropped: retention?.dropped ?? [],
        barsPruned: retention?.barsPruned ?? {},
        rollupWindow: { from: rollups.from, to: rollups.to },
        systemRowsPruned: system.pruned,
        systemTableBytes: system.sizes,
      },
      'storage maintenance pass done',
    );
  } finally {
    client.release();
  }
}
