/**
 * The stream-bridge process: config → logger → telemetry → clients → one app object, run under
 * the supervisor (the only owner of shutdown).
 *
 *   node --import @backbone/telemetry/register apps/stream-bridge/src/main.ts
 */
import { ConfigError, loadConfig, redactText, type SystemConfig } from '@backbone/config';
import { createPool } from '@backbone/db';
import { createKafkajsClient } from '@backbone/kafka';
import { runSupervisedProcess, startHeartbeat, Supervisor } from '@backbone/supervisor';
import { activeTelemetry, createLogger, startHealthServer } from '@backbone/telemetry';
import { Redis } from 'ioredis';
import { StreamBridge } from './lib/stream-bridge.ts';

const WORKER = 'stream-bridge';

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
  const settings = config.workers.streamBridge;
  const logger = createLogger({ name: WORKER, level: config.telemetry.logLevel });
  const telemetry = activeTelemetry();

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
  const redis = new Redis(config.redis.url, {
    maxRetriesPerRequest: 2,
    tls: config.redis.tls.enabled ? {} : undefined,
  });
  redis.on('error', (error: Error) => {
    logger.warn({ err: redactText(error.message) }, 'redis connection error');
  });

  const app = new StreamBridge({ config, pool, kafka, logger });
  await app.start();
  const supervisor = new Supervisor({
    name: WORKER,
    logger,
    defaultShutdownDeadlineMs: settings.shutdownDeadlineMs,
    intensity: { maxRestarts: config.supervisor.maxRestarts, periodMs: config.supervisor.restartPeriodMs },
    backoff: { initialMs: config.supervisor.backoffInitialMs, maxMs: config.supervisor.backoffMaxMs },
    children: app.children,
  });
  const health = await startHealthServer({
    port: settings.port,
    host: settings.host,
    readyz: () => app.readiness(),
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
      { name: 'stream-bridge', close: () => app.stop() },
      { name: 'postgres', close: () => pool.end() },
      {
        name: 'redis',
        close: async () => {
          await redis.quit();
        },
      },
      { name: 'telemetry', close: () => telemetry?.shutdown() ?? Promise.resolve() },
    ],
  });
}

const config = loadValidConfig();
if (config !== undefined) await main(config);
