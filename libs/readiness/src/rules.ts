import type { SystemConfig } from '@backbone/config';

/** Warn / fail thresholds of one measurement where larger is worse. */
export interface Thresholds {
  warn: number;
  fail: number;
}

/**
 * Every threshold the checks apply. The configured ones come from `readiness` and `storage`;
 * the others are documented defaults in docs/readiness.md (they can be overridden in code).
 */
export interface ReadinessRules {
  probeTimeoutMs: number;
  probeIntervalSeconds: number;
  freshnessSlaSeconds: { daily: number; intraday: number; macro: number };
  /** Consumer lag in messages. */
  lag: Thresholds;
  /** Cache hit ratio: below warn warns, below fail fails (smaller is worse). */
  hitRatio: Thresholds;
  requiredComponents: readonly string[];
  optionalComponents: readonly string[];
  /** Age of the oldest outbox row still to be sent (not published, not dead), seconds. */
  outboxAgeSeconds: Thresholds;
  /** Age of the oldest waiting BullMQ job, seconds. */
  queueWaitSeconds: Thresholds;
  /** Redis used_memory / maxmemory. */
  redisMemoryRatio: Thresholds;
  /**
   * Seconds since the oldest 1m bar the 1h rollup does not cover yet was ingested (wall time,
   * so a feed that runs ahead in data time is judged by whether the refresh keeps up).
   */
  rollupLagSeconds: Thresholds;
  /** Hours of recent 1m bars the ingestor's maintenance rolls up (`storage.rollupRecentWindowHours`). */
  rollupWindowHours: number;
  /** Consecutive failed ingest runs of one plan that fail readiness (ingest.plans[].schedule). */
  maxConsecutiveFailures: number;
  /** Seconds without committed progress on a partition with lag that fail (`readiness.stalledPartitionSeconds`). */
  stalledPartitionSeconds: number;
  /** Dead letters within the last `windowSeconds`: `warnCount` or more warn (`readiness.deadLetters`). */
  deadLetters: { windowSeconds: number; warnCount: number };
  /** Seconds a job scheduler's next run may be overdue before it counts as missed (fail). */
  missedScheduleGraceSeconds: number;
  /** Seconds a scheduled TimescaleDB job's next start may be overdue (`timescaledb.jobs`). */
  jobLateSeconds: Thresholds;
  /** HA standby lag that warns (`readiness.replicationLag`): WAL bytes not replayed, replay_lag seconds. */
  replicationLag: { warnBytes: number; warnSeconds: number };
}

/**
 * The rules of a configuration.
 *
 * @example const rules = rulesFromConfig(loadConfig());
 */
export function rulesFromConfig(config: SystemConfig): ReadinessRules {
  const { readiness } = config;
  const failures = config.ingest.plans.map((plan) => plan.schedule.maxConsecutiveFailures);
  return {
    probeTimeoutMs: readiness.probeTimeoutMs,
    probeIntervalSeconds: readiness.probeIntervalSeconds,
    freshnessSlaSeconds: { ...readiness.freshnessSlaSeconds },
    lag: { ...readiness.lag },
    hitRatio: { ...readiness.hitRatio },
    requiredComponents: [...readiness.requiredComponents],
    optionalComponents: [...readiness.optionalComponents],
    outboxAgeSeconds: { ...readiness.outboxAgeSeconds },
    queueWaitSeconds: { warn: 300, fail: 1800 },
    redisMemoryRatio: { ...readiness.redisMemoryRatio },
    // The ingestor refreshes the rollups every maintenance pass: three missed passes warn, an
    // hour's worth (at the default interval) fails.
    rollupLagSeconds: {
      warn: 3 * config.storage.maintenanceIntervalSeconds,
      fail: 60 * config.storage.maintenanceIntervalSeconds,
    },
    rollupWindowHours: config.storage.rollupRecentWindowHours,
    maxConsecutiveFailures: failures.length === 0 ? 3 : Math.min(...failures),
    stalledPartitionSeconds: readiness.stalledPartitionSeconds,
    deadLetters: { ...readiness.deadLetters },
    missedScheduleGraceSeconds: readiness.missedScheduleGraceSeconds,
    // The same grace as a BullMQ scheduler's missed run; twelve graces (an hour at the default)
    // without the scheduler starting a due job fail.
    jobLateSeconds: {
      warn: readiness.missedScheduleGraceSeconds,
      fail: 12 * readiness.missedScheduleGraceSeconds,
    },
    replicationLag: { ...readiness.replicationLag },
  };
}

/** `ok`, `warn` or `fail` for a value where larger is worse. */
export function grade(value: number, thresholds: Thresholds): 'ok' | 'warn' | 'fail' {
  if (value >= thresholds.fail) return 'fail';
  if (value >= thresholds.warn) return 'warn';
  return 'ok';
}
