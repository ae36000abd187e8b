import { redactText, redisTlsOptions } from '@backbone/config';
import { Redis, type RedisOptions } from 'ioredis';

/** The Redis settings the cache needs; the `redis` section of the config fits. */
export interface CacheRedisConfig {
  url: string;
  tls: { enabled: boolean; rejectUnauthorized: boolean };
}

/**
 * A Redis client for the read-through path: every command fails within `commandTimeoutMs`
 * and nothing queues while disconnected, so a Redis outage turns into a fast fall-back to the
 * database instead of hanging readers. Always has an `error` listener (default: a redacted
 * process warning), which Node would otherwise turn into a crash.
 *
 * @example const redis = createCacheRedis(config.redis, { connectionName: 'cache-warmer' });
 */
export function createCacheRedis(
  config: CacheRedisConfig,
  options: { connectionName?: string; commandTimeoutMs?: number; onError?: (error: Error) => void } = {},
): Redis {
  const redisOptions: RedisOptions = {
    connectionName: options.connectionName ?? 'backbone-cache',
    commandTimeout: options.commandTimeoutMs ?? 500,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    // Keep trying in the background; reads meanwhile go to the database.
    retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 6), 2_000),
    ...redisTlsOptions(config),
  };
  const redis = new Redis(config.url, redisOptions);
  const onError =
    options.onError ??
    ((error: Error) => {
      process.emitWarning(`cache redis error: ${redactText(error.message)}`, 'CacheRedisWarning');
    });
  redis.on('error', onError);
  return redis;
}

/**
 * Resolves true once `redis` is connected, false after `timeoutMs` (the caller then runs
 * degraded until the background reconnect succeeds).
 *
 * @example if (!(await redisReady(redis, 1_000))) log.warn('cache degraded: Redis unreachable');
 */
export async function redisReady(redis: Redis, timeoutMs: number): Promise<boolean> {
  if (redis.status === 'ready') return true;
  const { promise, resolve } = Promise.withResolvers<boolean>();
  const onReady = (): void => {
    resolve(true);
  };
  const timer = setTimeout(() => {
    resolve(false);
  }, timeoutMs);
  redis.once('ready', onReady);
  try {
    return await promise;
  } finally {
    clearTimeout(timer);
    redis.off('ready', onReady);
  }
}
