/**
 * The timescale-ingestor process: config → logger → telemetry → clients → one app object, run
 * under the supervisor (the only owner of shutdown).
 *
 *   node --import @backbone/telemetry/register apps/timescale-ingestor/src/main.ts
 */
import { ConfigError, loadConfig, redactText, type SystemConfig } from '@backbone/config';
import { createPool } from '@backbone/db';
import { runSupervisedProcess, startHeartbeat, Supervisor } from '@backbone/supervisor';
import {
  activeTelemetry,
  createLogger,
  registerQueueDepthGauge,
  startHealthServer,
} from '@backbone/telemetry';
import { Redis } from 'ioredis';
import { checkReadiness } from './lib/readiness.ts';
import { storageMaintenanceChild } from './lib/storage-maintenance.ts';
import { TimescaleIngestor } from './lib/timescale-ingestor.ts';

const WORKER = 'timescale-ingestor';

function loadValidConfig(): SystemConfig | undefined {
  try {
    return loadConfig();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    // Every bad key path, redacted; exit code 2 once the event loop is empty.
    process.stderr.write(`${error.message}\n`);
    process.exitCode = error.exitCode;
    return undefined;
  }
}

async function main(config: SystemConfig): Promise<void> {
  const settings = config.workers.timescaleIngestor;
  const logger = createLogger({ name: WORKER, level: config.telemetry.logLevel });
  const telemetry = activeTelemetry();

  const pool = createPool(config.database, {
    applicationName: WORKER,
    onError: (error) => {
      logger.warn({ err: redactText(error.message) }, 'database connection error');
    },
  });
  const redisOptions = { lazyConnect: false, tls: config.redis.tls.enabled ? {} : undefined };
  // BullMQ workers block on Redis and must retry forever; everything else fails fast.
  const workerRedis = new Redis(config.redis.url, { ...redisOptions, maxRetriesPerRequest: null });
  const redis = new Redis(config.redis.url, { ...redisOptions, maxRetriesPerRequest: 2 });
  for (const client of [workerRedis, redis]) {
    client.on('error', (error: Error) => {
      logger.warn({ err: redactText(error.message) }, 'redis connection error');
    });
  }

  const app = new TimescaleIngestor({ config, pool, workerRedis, redis, logger });
  registerQueueDepthGauge({ queues: [app.queue], logger });
  const supervisor = new Supervisor({
    name: WORKER,
    logger,
    defaultShutdownDeadlineMs: settings.shutdownDeadlineMs,
    intensity: { maxRestarts: config.supervisor.maxRestarts, periodMs: config.supervisor.restartPeriodMs },
    backoff: { initialMs: config.supervisor.backoffInitialMs, maxMs: config.supervisor.backoffMaxMs },
    children: [
      {
        name: 'ingest-worker',
        restart: 'permanent',
        metadata: { queue: 'ingest', plans: config.ingest.plans.map((plan) => plan.name) },
        start: async (signal) => {
          await app.start();
          await new Promise<void>((resolve) => {
            signal.addEventListener(
              'abort',
              () => {
                resolve();
              },
              { once: true },
            );
          });
          await app.stop(settings.shutdownDeadlineMs);
        },
      },
      storageMaintenanceChild({
        pool,
        logger,
        intervalMs: config.storage.maintenanceIntervalSeconds * 1000,
        recentWindowMs: config.storage.rollupRecentWindowHours * 3_600_000,
      }),
    ],
  });
  const health = await startHealthServer({
    port: settings.port,
    host: settings.host,
    readyz: () =>
      checkReadiness({
        pool,
        redis,
        workerRunning: () => app.isRunning(),
        plans: () => app.planStates(),
      }),
    ...(telemetry === undefined ? {} : { metrics: telemetry.metricsHandler }),
  });
  const heartbeat = startHeartbeat({
    redis,
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
      { name: 'postgres', close: () => pool.end() },
      {
        name: 'redis',
        close: async () => {
          await Promise.allSettled([redis.quit(), workerRedis.quit()]);
        },
      },
      { name: 'telemetry', close: () => telemetry?.shutdown() ?? Promise.resolve() },
    ],
  });
}

const config = loadValidConfig();
if (config !== undefined) await main(config);
