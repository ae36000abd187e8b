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
  /** Age of the oldest unpublished outbox row, seconds. */
  outboxAgeSeconds: Thresholds;
  /** Age of the oldest waiting BullMQ job, seconds. */
  queueWaitSeconds: Thresholds;
  /** Redis used_memory / maxmemory. */
  redisMemoryRatio: Thresholds;
  /** Rollup buckets (hours) the 1h rollup may trail the newest 1m bar. */
  rollupLagHours: Thresholds;
  /** Consecutive failed ingest runs of one plan that fail readiness (ingest.plans[].schedule). */
  maxConsecutiveFailures: number;
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
    outboxAgeSeconds: { warn: 60, fail: 600 },
    queueWaitSeconds: { warn: 300, fail: 1800 },
    redisMemoryRatio: { warn: 0.8, fail: 0.95 },
    rollupLagHours: { warn: 2, fail: 24 },
    maxConsecutiveFailures: failures.length === 0 ? 3 : Math.min(...failures),
  };
}

/** `ok`, `warn` or `fail` for a value where larger is worse. */
export function grade(value: number, thresholds: Thresholds): 'ok' | 'warn' | 'fail' {
  if (value >= thresholds.fail) return 'fail';
  if (value >= thresholds.warn) return 'warn';
  return 'ok';
}
