/**
 * The cache-warmer process: config → logger → telemetry → clients → one app object whose three
 * loops run as supervisor children (the supervisor is the only owner of shutdown).
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
import { ConfigError, loadConfig, redactText, topicName, type SystemConfig } from '@backbone/config';
import { createPool } from '@backbone/db';
import { createKafkajsClient } from '@backbone/kafka';
import { runSupervisedProcess, startHeartbeat, Supervisor, type ChildSpec } from '@backbone/supervisor';
import {
  activeTelemetry,
  createLogger,
  registerQueueDepthGauge,
  startHealthServer,
} from '@backbone/telemetry';
import { Redis } from 'ioredis';
import { CacheWarmer } from './lib/cache-warmer.ts';
import { checkReadiness } from './lib/readiness.ts';

const WORKER = 'cache-warmer';

function loadValidConfig(): SystemConfig | undefined {
  try {
    return loadConfig();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`${error.message}\n`);
    process.exitCode = error.exitCode;
    return undefined;
  }
}

async function main(config: SystemConfig): Promise<void> {
  const settings = config.workers.cacheWarmer;
  const cacheConfig = config.redis.cache;
  const logger = createLogger({ name: WORKER, level: config.telemetry.logLevel });
  const telemetry = activeTelemetry();
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
  const tls = config.redis.tls.enabled
    ? { rejectUnauthorized: config.redis.tls.rejectUnauthorized }
    : undefined;
  // BullMQ workers block on Redis and must retry forever; the producer fails fast.
  const workerRedis = new Redis(config.redis.url, { tls, maxRetriesPerRequest: null });
  const queueRedis = new Redis(config.redis.url, { tls, maxRetriesPerRequest: 2 });
  for (const client of [workerRedis, queueRedis]) client.on('error', warnRedis);
  const kafka = createKafkajsClient({
    brokers: config.kafka.brokers,
    clientId: `${config.kafka.clientId}-${WORKER}`,
    sasl: config.kafka.sasl,
    ssl: config.kafka.ssl,
    logger,
  });

  const datasets = createMarketDatasets(pool, cacheConfig.datasets, {
    schema: config.database.schemas.marketData,
  });
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
    marketDataSchema: config.database.schemas.marketData,
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
  const supervisor = new Supervisor({
    name: WORKER,
    logger,
    defaultShutdownDeadlineMs: settings.shutdownDeadlineMs,
    intensity: { maxRestarts: config.supervisor.maxRestarts, periodMs: config.supervisor.restartPeriodMs },
    backoff: { initialMs: config.supervisor.backoffInitialMs, maxMs: config.supervisor.backoffMaxMs },
    // Worker first, so jobs queued by the consumer and the scheduler find it running.
    children: [
      child('warm-worker', (signal) => warmer.runWorker(signal)),
      child('ingest-events-consumer', (signal) => warmer.runEventsConsumer(signal)),
      child('rewarm-scheduler', (signal) => warmer.runScheduler(signal)),
      child('rollups-listener', (signal) => warmer.runRollupsListener(signal)),
    ],
  });
  const health = await startHealthServer({
    port: settings.port,
    host: settings.host,
    readyz: () => checkReadiness({ cache, pool, running: () => warmer.isRunning() }),
    ...(telemetry === undefined ? {} : { metrics: telemetry.metricsHandler }),
  });
  const heartbeat = startHeartbeat({
    redis: queueRedis,
    keyNamespace: config.redis.keyNamespace,
    worker: WORKER,
    intervalMs: config.supervisor.heartbeatIntervalMs,
    ttlMs: config.supervisor.heartbeatTtlSeconds * 1000,
    snapshot: () => supervisor.snapshot(),
    logger,
  });
  logger.info({ port: health.port }, 'health server listening');

  await runSupervisedProcess(supervisor, {
    logger,
    onShutdown: [
      { name: 'heartbeat', close: () => heartbeat.stop() },
      { name: 'health-server', close: () => health.close() },
      { name: 'queue', close: () => warmer.queue.close() },
      { name: 'cache', close: () => cache.close() },
      { name: 'postgres', close: () => pool.end() },
      {
        name: 'redis',
        close: async () => {
          await Promise.allSettled([cacheRedis.quit(), queueRedis.quit(), workerRedis.quit()]);
        },
      },
      { name: 'telemetry', close: () => telemetry?.shutdown() ?? Promise.resolve() },
    ],
  });
}

const config = loadValidConfig();
if (config !== undefined) await main(config);
