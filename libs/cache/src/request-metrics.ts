import { metrics, type Meter, type ObservableCounter } from '@opentelemetry/api';
import type { Redis } from 'ioredis';
import { readCacheStats } from './stats.ts';

/**
 * Registers the OTel observable counter `backbone.cache.requests` (attributes `dataset`,
 * `result` = hit | miss), read at each collection from the shared stats hash
 * `<ns>cache:stats`: the lookups of every process that reads through a `CacheClient` (services,
 * `./backbone cache get`), not only of the process that serves the metric. One process per
 * deployment registers it (the cache-warmer), so `sum(rate(...))` does not count a lookup twice.
 * The hit ratio it gives, hit / (hit + miss), is the one `./backbone cache stats` and the
 * readiness check `cache.hit-ratio` use. A failed read is handed to `onError` and skipped, never
 * reported as zero.
 *
 * @example registerCacheRequestsCounter({ redis, keyNamespace: 'backbone:', onError: (e) => log.warn({ err: e }) });
 */
export function registerCacheRequestsCounter(input: {
  readonly redis: Redis;
  readonly keyNamespace: string;
  readonly onError: (error: unknown) => void;
  readonly meter?: Meter;
}): ObservableCounter {
  const meter = input.meter ?? metrics.getMeter('@backbone/cache');
  const counter = meter.createObservableCounter('backbone.cache.requests', {
    description: 'Cache lookups of every reader (shared stats in Redis), by dataset and result (hit, miss).',
    unit: '{request}',
  });
  counter.addCallback(async (result) => {
    try {
      for (const stats of await readCacheStats(input.redis, input.keyNamespace)) {
        result.observe(stats.hits, { dataset: stats.dataset, result: 'hit' });
        result.observe(stats.misses, { dataset: stats.dataset, result: 'miss' });
      }
    } catch (error) {
      input.onError(error);
    }
  });
  return counter;
}
