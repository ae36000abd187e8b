/**
 * The cache-warmer process: config → logger → clients → one app object whose loops run as
 * supervisor children, run by the worker runtime (supervisor, health server, heartbeat, shutdown).
 *
 *   node --import @backbone/telemetry/register apps/cache-warmer/src/main.ts
 */
import {
  CacheClient,
  createCacheRedis,
  createMarketDatasets,
  DATASETS,
  registerCacheRequestsCounter,
} from '@backbone/cache';
import { redactText, topicName, type SystemConfig } from '@backbone/config';
import { createPool } from '@backbone/db';
import { createKafkajsClient } from '@backbone/kafka';
import type { ChildSpec } from '@backbone/supervisor';
import { createLogger, registerQueueDepthGauge } from '@backbone/telemetry';
import { createWorkerRedis, loadWorkerConfig, runWorker } from '@backbone/worker-runtime';
import { CacheWarmer } from './lib/cache-warmer.ts';
import { checkReadiness } from './lib/readiness.ts';

const WORKER = 'cache-warmer';

async function main(config: SystemConfig): Promise<void> {
  const settings = config.workers.cacheWarmer;
  const cacheConfig = config.redis.cache;
  const logger = createLogger({ name: WORKER, level: config.telemetry.logLevel });
  const warnRedis = (error: Error): void => {
    logger.warn({ err: redactText(error.message) }, 'redis connection error');
  };

  const pool = createPool(config.database, {
    applicationName: WORKER,
    onError: (error) => {
      logger.warn({ err: redactText(error.message) }, 'database connection error');
    },
  });
  const cacheRedis = createCacheRedis(config.redis, { connectionName: WORKER, onError: warnRedis });
  const workerRedis = createWorkerRedis(config.redis, {
    logger,
    connectionName: `${WORKER}-worker`,
    blocking: true,
  });
  const queueRedis = createWorkerRedis(config.redis, { logger, connectionName: `${WORKER}-queue` });
  const kafka = createKafkajsClient({
    brokers: config.kafka.brokers,
    clientId: `${config.kafka.clientId}-${WORKER}`,
    sasl: config.kafka.sasl,
    ssl: config.kafka.ssl,
    logger,
  });

  const datasets = createMarketDatasets(pool, cacheConfig.datasets);
  const cache = new CacheClient({
    redis: cacheRedis,
    keyNamespace: config.redis.keyNamespace,
    datasets,
    policy: cacheConfig,
  });
  const warmer = new CacheWarmer({
    cache,
    pool,
    listenConnection: { connectionString: config.database.url, application_name: `${WORKER}-listen` },
    kafka,
    queueRedis,
    workerRedis,
    logger,
    keyNamespace: config.redis.keyNamespace,
    topic: topicName(config.kafka, 'backbone.ingest-events.v1'),
    datasets: new Set(DATASETS.filter((name) => datasets[name] !== undefined)),
    concurrency: settings.concurrency,
    // Re-warm at half the TTL, so a slice whose events were lost is refreshed before it expires.
    rewarmEveryMs: Math.max(1_000, (cacheConfig.ttlSeconds * 1000) / 2),
    maxKeysPerDataset: cacheConfig.maxKeysPerDataset,
    discoveryDays: cacheConfig.datasets.rollups.days,
  });

  registerQueueDepthGauge({ queues: [warmer.queue], logger });
  // The cache-warmer serves the deployment's cache hit ratio: the shared stats of every reader.
  registerCacheRequestsCounter({
    redis: queueRedis,
    keyNamespace: config.redis.keyNamespace,
    onError: (error) => {
      logger.warn({ err: error }, 'cache requests not measured');
    },
  });

  const child = (name: string, run: (signal: AbortSignal) => Promise<void>): ChildSpec => ({
    name,
    restart: 'permanent',
    shutdownDeadlineMs: settings.shutdownDeadlineMs,
    start: run,
  });
  await runWorker({
    worker: WORKER,
    config,
    settings,
    logger,
    // Worker first, so jobs queued by the consumer and the scheduler find it running.
    children: [
      child('warm-worker', (signal) => warmer.runWorker(signal)),
      child('ingest-events-consumer', (signal) => warmer.runEventsConsumer(signal)),
      child('rewarm-scheduler', (signal) => warmer.runScheduler(signal)),
      child('rollups-listener', (signal) => warmer.runRollupsListener(signal)),
    ],
    heartbeatRedis: queueRedis,
    readyz: () => checkReadiness({ cache, pool, running: () => warmer.isRunning() }),
    onShutdown: [
      { name: 'queue', close: () => warmer.queue.close() },
      { name: 'cache', close: () => cache.close() },
      { name: 'postgres', close: () => pool.end() },
      {
        name: 'redis',
        close: async () => {
          await Promise.allSettled([cacheRedis.quit(), queueRedis.quit(), workerRedis.quit()]);
        },
      },
    ],
  });
}

const config = loadWorkerConfig();
if (config !== undefined) await main(config);
