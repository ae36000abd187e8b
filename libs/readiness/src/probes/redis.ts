import type { Redis } from 'ioredis';
import { combine, formatCount, notOk, ok, type CheckOutcome, type Evidence, type Finding } from '../check.ts';
import type { CheckDefinition } from '../run-check.ts';
import { grade, type ReadinessRules } from '../rules.ts';

/** The hot datasets whose counters and keys the cache lib keeps (see libs/cache keys.ts). */
export const CACHE_DATASETS = ['latest-bar', 'recent-bars', 'rollups', 'macro-calendar'] as const;

export interface RedisProbeInput {
  redis: Redis;
  keyNamespace: string;
  rules: ReadinessRules;
  /** Datasets to report; the cache lib's four by default. */
  datasets?: readonly string[];
}

/**
 * Redis checks: PING latency, memory policy and headroom, evictions, and the cache hit ratio and
 * key count per dataset from the counters the cache clients share in Redis.
 *
 * @example const checks = redisChecks({ redis, keyNamespace: 'backbone:', rules });
 */
export function redisChecks(input: RedisProbeInput): CheckDefinition[] {
  // Hit ratio per probe round: the counters are cumulative, so the ratio since the previous
  // round says how the cache does now, not since it was first started.
  let previous: Map<string, { hits: number; misses: number }> | undefined;
  return [
    { name: 'redis.ping', component: 'redis', run: () => probePing(input.redis, input.rules) },
    { name: 'redis.memory', component: 'redis', run: () => probeMemory(input.redis, input.rules) },
    {
      name: 'cache.hit-ratio',
      component: 'cache',
      run: async () => {
        const { outcome, counters } = await probeCache(input, previous);
        previous = counters;
        return outcome;
      },
    },
  ];
}

async function probePing(redis: Redis, rules: ReadinessRules): Promise<CheckOutcome> {
  const started = performance.now();
  const pong = await redis.ping();
  const pingMs = Math.round((performance.now() - started) * 10) / 10;
  const server = parseInfo(await redis.info('server'));
  const evidence = { pingMs, reply: pong, redisVersion: server.get('redis_version') ?? null };
  if (pingMs >= rules.probeTimeoutMs / 2) {
    return notOk(
      'warn',
      'redis_slow',
      `Redis answered PING in ${pingMs} ms, more than half the probe timeout ${rules.probeTimeoutMs} ms; check its CPU and slow log.`,
      evidence,
    );
  }
  return ok(evidence);
}

async function probeMemory(redis: Redis, rules: ReadinessRules): Promise<CheckOutcome> {
  const memory = parseInfo(await redis.info('memory'));
  const stats = parseInfo(await redis.info('stats'));
  const policy = memory.get('maxmemory_policy') ?? 'unknown';
  const used = Number(memory.get('used_memory') ?? 0);
  const max = Number(memory.get('maxmemory') ?? 0);
  const evicted = Number(stats.get('evicted_keys') ?? 0);
  const ratio = max > 0 ? used / max : null;
  const evidence: Evidence = {
    maxmemoryPolicy: policy,
    usedMemoryBytes: used,
    maxmemoryBytes: max,
    usedRatio: ratio === null ? null : Math.round(ratio * 1000) / 1000,
    evictedKeys: evicted,
  };
  const findings = [];
  if (policy !== 'noeviction') {
    findings.push({
      status: 'fail' as const,
      reason: 'redis_eviction_policy',
      message: `Redis maxmemory-policy is ${policy}; BullMQ needs noeviction (jobs would be evicted): CONFIG SET maxmemory-policy noeviction and persist it in redis.conf.`,
    });
  }
  if (ratio === null) {
    // No maxmemory: nothing bounds Redis but the host. It grows until the OOM killer takes it,
    // and BullMQ's jobs with it; bounded with noeviction, a full Redis refuses writes instead.
    findings.push({
      status: 'warn' as const,
      reason: 'redis_memory_unbounded',
      message: `Redis has no maxmemory (uses ${formatCount(used)} bytes, unbounded); set maxmemory (keep noeviction) so a full Redis refuses writes instead of growing until the host kills it.`,
    });
  } else {
    const status = grade(ratio, rules.redisMemoryRatio);
    if (status !== 'ok') {
      findings.push({
        status,
        reason: 'redis_memory_high',
        message: `Redis uses ${formatCount(used)} of ${formatCount(max)} bytes (${Math.round(ratio * 100)}%), above the ${status} threshold ${Math.round(rules.redisMemoryRatio[status] * 100)}%; raise maxmemory or lower redis.cache.maxKeysPerDataset (thresholds: readiness.redisMemoryRatio).`,
      });
    }
  }
  if (evicted > 0) {
    findings.push({
      status: 'warn' as const,
      reason: 'redis_evictions',
      message: `Redis has evicted ${formatCount(evicted)} keys since it started; with noeviction this should stay 0, check that the policy was never changed.`,
    });
  }
  return combine(findings, evidence);
}

async function probeCache(
  input: RedisProbeInput,
  previous: Map<string, { hits: number; misses: number }> | undefined,
): Promise<{ outcome: CheckOutcome; counters: Map<string, { hits: number; misses: number }> }> {
  const { redis, keyNamespace, rules } = input;
  const datasets = input.datasets ?? CACHE_DATASETS;
  const raw = await redis.hgetall(`${keyNamespace}cache:stats`);
  const counters = new Map<string, { hits: number; misses: number }>();
  const rows: Evidence[] = [];
  const findings: Finding[] = [];
  let totalHits = 0;
  let totalLookups = 0;
  for (const dataset of datasets) {
    const hits = Number(raw[`${dataset}:hits`] ?? 0);
    const misses = Number(raw[`${dataset}:misses`] ?? 0);
    counters.set(dataset, { hits, misses });
    const before = previous?.get(dataset);
    const windowHits = before !== undefined && hits >= before.hits ? hits - before.hits : hits;
    const windowMisses = before !== undefined && misses >= before.misses ? misses - before.misses : misses;
    const lookups = windowHits + windowMisses;
    const keys = await redis.zcard(`${keyNamespace}cache:lru:${dataset}`);
    const ratio = lookups > 0 ? windowHits / lookups : null;
    totalHits += windowHits;
    totalLookups += lookups;
    rows.push({
      dataset,
      hits,
      misses,
      windowLookups: lookups,
      hitRatio: ratio === null ? null : Math.round(ratio * 1000) / 1000,
      keys,
    });
    if (ratio === null) continue;
    // Smaller is worse: below `fail` fails, below `warn` warns.
    const status = ratio < rules.hitRatio.fail ? 'fail' : ratio < rules.hitRatio.warn ? 'warn' : 'ok';
    if (status !== 'ok') {
      findings.push({
        status,
        reason: 'cache_hit_ratio_low',
        message: `Cache dataset ${dataset} hit ${formatCount(windowHits)} of ${formatCount(lookups)} lookups (${Math.round(ratio * 100)}%), below the ${status} threshold ${Math.round(rules.hitRatio[status] * 100)}%; check that the cache-warmer is running and warming ${dataset}.`,
      });
    }
  }
  const outcome = combine(findings, {
    datasets: rows,
    overallHitRatio: totalLookups > 0 ? Math.round((totalHits / totalLookups) * 1000) / 1000 : null,
    window: previous === undefined ? 'since the counters started' : 'since the previous probe round',
  });
  return { outcome, counters };
}

/** `INFO` text as a map of field → value. */
export function parseInfo(text: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    const separator = line.indexOf(':');
    if (separator <= 0 || line.startsWith('#')) continue;
    fields.set(line.slice(0, separator), line.slice(separator + 1).trim());
  }
  return fields;
}
