/**
 * The stream-bridge process: config → logger → clients → one app object, run by the worker
 * runtime (supervisor, health server, heartbeat, shutdown).
 *
 *   node --import @backbone/telemetry/register apps/stream-bridge/src/main.ts
 */
import { redactText, type SystemConfig } from '@backbone/config';
import { createPool } from '@backbone/db';
import { createKafkajsClient } from '@backbone/kafka';
import { createLogger } from '@backbone/telemetry';
import { createWorkerRedis, loadWorkerConfig, runWorker } from '@backbone/worker-runtime';
import { StreamBridge } from './lib/stream-bridge.ts';

const WORKER = 'stream-bridge';

async function main(config: SystemConfig): Promise<void> {
  const logger = createLogger({ name: WORKER, level: config.telemetry.logLevel });
  const pool = createPool(config.database, {
    applicationName: WORKER,
    onError: (error) => {
      logger.warn({ err: redactText(error.message) }, 'database connection error');
    },
  });
  const kafka = createKafkajsClient({
    ...config.kafka,
    clientId: `${config.kafka.clientId}-${WORKER}`,
    logger,
    logLevel: 'warn',
  });
  const redis = createWorkerRedis(config.redis, { logger, connectionName: `${WORKER}-heartbeat` });

  const app = new StreamBridge({ config, pool, kafka, logger });
  await app.start();
  await runWorker({
    worker: WORKER,
    config,
    settings: config.workers.streamBridge,
    logger,
    children: app.children,
    heartbeatRedis: redis,
    readyz: () => app.readiness(),
    onShutdown: [
      { name: 'stream-bridge', close: () => app.stop() },
      { name: 'postgres', close: () => pool.end() },
      {
        name: 'redis',
        close: async () => {
          await redis.quit();
        },
      },
    ],
  });
}

const config = loadWorkerConfig();
if (config !== undefined) await main(config);
