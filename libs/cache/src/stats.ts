import type { Redis } from 'ioredis';
import { CacheKeys, DATASETS, type DatasetName } from './keys.ts';

/** Counters kept per dataset in the shared hash `<ns>cache:stats` as `<dataset>:<counter>`. */
export const STAT_COUNTERS = [
  'hits',
  'misses',
  'stale',
  'corrupt',
  'degraded',
  'loads',
  'load_errors',
  'load_us',
] as const;
export type StatCounter = (typeof STAT_COUNTERS)[number];

/** The shared counters of one dataset, summed over every process that used the cache. */
export interface DatasetStats {
  dataset: DatasetName;
  hits: number;
  misses: number;
  /** hits / (hits + misses); null before the first lookup. */
  hitRatio: number | null;
  /** Stale values served because a reload failed. */
  stale: number;
  /** Corrupt values deleted and reloaded. */
  corrupt: number;
  /** Reads served from the database because Redis was unreachable. */
  degraded: number;
  loads: number;
  loadErrors: number;
  /** Mean database load latency; null before the first load. */
  meanLoadMs: number | null;
}

/**
 * Reads the shared per-dataset counters (what `./backbone cache stats` prints).
 *
 * @example const stats = await readCacheStats(redis, 'backbone:');
 */
export async function readCacheStats(redis: Redis, keyNamespace: string): Promise<DatasetStats[]> {
  const raw = await redis.hgetall(new CacheKeys(keyNamespace).stats);
  const n = (dataset: string, counter: StatCounter): number => Number(raw[`${dataset}:${counter}`] ?? 0);
  return DATASETS.map((dataset) => {
    const hits = n(dataset, 'hits');
    const misses = n(dataset, 'misses');
    const loads = n(dataset, 'loads');
    return {
      dataset,
      hits,
      misses,
      hitRatio: hits + misses === 0 ? null : hits / (hits + misses),
      stale: n(dataset, 'stale'),
      corrupt: n(dataset, 'corrupt'),
      degraded: n(dataset, 'degraded'),
      loads,
      loadErrors: n(dataset, 'load_errors'),
      meanLoadMs: loads === 0 ? null : n(dataset, 'load_us') / loads / 1000,
    };
  });
}
