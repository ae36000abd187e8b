import { redactText, redisTlsOptions, type SystemConfig } from '@backbone/config';
import type { Logger } from '@backbone/telemetry';
import { Redis } from 'ioredis';

export interface WorkerRedisOptions {
  readonly logger: Logger;
  /** Shown by `CLIENT LIST`, e.g. `cache-warmer-queue`. */
  readonly connectionName: string;
  /**
   * For BullMQ workers, which block on Redis and must retry a command for as long as it takes.
   * Every other client fails a command after two retries, so callers see an outage quickly.
   */
  readonly blocking?: boolean;
}

/**
 * A Redis client as every worker makes one: TLS from `config.tls` (a `rediss:` URL turns it on
 * too), connection errors logged redacted instead of crashing the process.
 *
 * @example const queueRedis = createWorkerRedis(config.redis, { logger, connectionName: 'cache-warmer-queue' });
 */
export function createWorkerRedis(config: SystemConfig['redis'], options: WorkerRedisOptions): Redis {
  const redis = new Redis(config.url, {
    connectionName: options.connectionName,
    maxRetriesPerRequest: options.blocking === true ? null : 2,
    ...redisTlsOptions(config),
  });
  redis.on('error', (error: Error) => {
    options.logger.warn(
      { err: redactText(error.message), connection: options.connectionName },
      'redis connection error',
    );
  });
  return redis;
}
