import { redactText, redisTlsOptions, type SystemConfig } from '@backbone/config';
import { createPool } from '@backbone/db';
import { createKafkajsClient } from '@backbone/kafka';
import { Redis } from 'ioredis';
import type { ProbeClients } from './create-checks.ts';

/** The probe clients plus `close()`. */
export interface OwnedProbeClients extends ProbeClients {
  close(): Promise<void>;
}

/**
 * Clients tuned for probing: every connection attempt and statement bounded by the probe
 * timeout, Redis commands failing after one reconnect attempt, Kafka through the port with its
 * own client id.
 *
 * @example const clients = createProbeClients(config, (message) => logger.warn(message));
 */
export function createProbeClients(
  config: SystemConfig,
  onError: (message: string) => void,
): OwnedProbeClients {
  const timeoutMs = config.readiness.probeTimeoutMs;
  const pool = createPool(
    { ...config.database, poolSize: 4, statementTimeoutMs: timeoutMs, connectionTimeoutMs: timeoutMs },
    {
      applicationName: 'backbone-readiness',
      onError: (error) => {
        onError(`database: ${redactText(error.message)}`);
      },
    },
  );
  const redis = new Redis(config.redis.url, {
    lazyConnect: true,
    // A command issued while disconnected waits for one reconnect attempt, then fails; the
    // probe timeout bounds the wait either way.
    maxRetriesPerRequest: 1,
    connectTimeout: timeoutMs,
    retryStrategy: (attempt) => Math.min(attempt * 200, 2_000),
    ...redisTlsOptions(config.redis),
  });
  // Without a listener a refused connection would crash the process.
  redis.on('error', (error: Error) => {
    onError(`redis: ${redactText(error.message)}`);
  });
  redis.connect().catch(() => undefined);
  const kafka = createKafkajsClient({
    ...config.kafka,
    clientId: `${config.kafka.clientId}-readiness`,
    logLevel: 'error',
    // One retry within the probe timeout: a probe that timed out must not leave a call retrying
    // (and reconnecting) behind it, and a missing topic is reported as missing, not as a timeout.
    retry: { retries: 1, initialRetryTimeMs: 100, maxRetryTimeMs: timeoutMs },
    connectionTimeoutMs: timeoutMs,
    requestTimeoutMs: timeoutMs,
  });
  return {
    pool,
    redis,
    kafka,
    async close() {
      redis.disconnect();
      await pool.end();
    },
  };
}
