/**
 * The timescale-ingestor process: config → logger → clients → one app object, run by the worker
 * runtime (supervisor, health server, heartbeat, shutdown).
 *
 *   node --import @backbone/telemetry/register apps/timescale-ingestor/src/main.ts
 */
import { redactText, type SystemConfig } from '@backbone/config';
import { createPool } from '@backbone/db';
import { createLogger, registerQueueDepthGauge } from '@backbone/telemetry';
import { createWorkerRedis, loadWorkerConfig, runWorker } from '@backbone/worker-runtime';
import { checkReadiness } from './lib/readiness.ts';
import { storageMaintenanceChild } from './lib/storage-maintenance.ts';
import { TimescaleIngestor } from './lib/timescale-ingestor.ts';

const WORKER = 'timescale-ingestor';

async function main(config: SystemConfig): Promise<void> {
  const settings = config.workers.timescaleIngestor;
  const logger = createLogger({ name: WORKER, level: config.telemetry.logLevel });
  const pool = createPool(config.database, {
    applicationName: WORKER,
    onError: (error) => {
      logger.warn({ err: redactText(error.message) }, 'database connection error');
    },
  });
  const workerRedis = createWorkerRedis(config.redis, {
    logger,
    connectionName: `${WORKER}-worker`,
    blocking: true,
  });
  const redis = createWorkerRedis(config.redis, { logger, connectionName: WORKER });

  const app = new TimescaleIngestor({ config, pool, workerRedis, redis, logger });
  registerQueueDepthGauge({ queues: [app.queue], logger });
  await runWorker({
    worker: WORKER,
    config,
    settings,
    logger,
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
        systemRetention: config.storage.systemRetention,
      }),
    ],
    heartbeatRedis: redis,
    readyz: () =>
      checkReadiness({
        pool,
        redis,
        workerRunning: () => app.isRunning(),
        plans: () => app.planStates(),
      }),
    onShutdown: [
      { name: 'postgres', close: () => pool.end() },
      {
        name: 'redis',
        close: async () => {
          await Promise.allSettled([redis.quit(), workerRedis.quit()]);
        },
      },
    ],
  });
}

const config = loadWorkerConfig();
if (config !== undefined) await main(config);
