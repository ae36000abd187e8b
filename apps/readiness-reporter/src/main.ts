/**
 * The readiness-reporter process: config → logger → telemetry → one app object whose probe loop
 * runs as a supervisor child (the supervisor is the only owner of shutdown).
 *
 *   node --import @backbone/telemetry/register apps/readiness-reporter/src/main.ts
 */
import { ConfigError, loadConfig, redactText, type SystemConfig } from '@backbone/config';
import { runSupervisedProcess, startHeartbeat, Supervisor } from '@backbone/supervisor';
import { activeTelemetry, createLogger } from '@backbone/telemetry';
import { Redis } from 'ioredis';
import { ReporterApp } from './lib/reporter-app.ts';

const WORKER = 'readiness-reporter';

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
  const settings = config.workers.readinessReporter;
  const logger = createLogger({ name: WORKER, level: config.telemetry.logLevel });
  const telemetry = activeTelemetry();
  // The heartbeat has its own client: the probes' client fails fast by design, a heartbeat retries.
  const heartbeatRedis = new Redis(config.redis.url, {
    maxRetriesPerRequest: 2,
    ...(config.redis.tls.enabled ? { tls: { rejectUnauthorized: config.redis.tls.rejectUnauthorized } } : {}),
  });
  heartbeatRedis.on('error', (error: Error) => {
    logger.warn({ err: redactText(error.message) }, 'heartbeat redis connection error');
  });
  const supervisor = new Supervisor({
    name: WORKER,
    logger,
    defaultShutdownDeadlineMs: settings.shutdownDeadlineMs,
    intensity: { maxRestarts: config.supervisor.maxRestarts, periodMs: config.supervisor.restartPeriodMs },
    backoff: { initialMs: config.supervisor.backoffInitialMs, maxMs: config.supervisor.backoffMaxMs },
    children: [
      {
        name: 'probe-loop',
        restart: 'permanent',
        shutdownDeadlineMs: settings.shutdownDeadlineMs,
        // A fresh app per (re)start, always stopped, so a restart never inherits half-closed clients.
        start: async (signal) => {
          const app = new ReporterApp({ config, logger });
          try {
            await app.start();
            await new Promise<void>((resolve) => {
              if (signal.aborted) {
                resolve();
                return;
              }
              signal.addEventListener(
                'abort',
                () => {
                  resolve();
                },
                { once: true },
              );
            });
          } finally {
            await app.stop();
          }
        },
      },
    ],
  });
  const heartbeat = startHeartbeat({
    redis: heartbeatRedis,
    keyNamespace: config.redis.keyNamespace,
    worker: WORKER,
    intervalMs: config.supervisor.heartbeatIntervalMs,
    ttlMs: config.supervisor.heartbeatTtlSeconds * 1000,
    snapshot: () => supervisor.snapshot(),
    logger,
  });
  await runSupervisedProcess(supervisor, {
    logger,
    onShutdown: [
      { name: 'heartbeat', close: () => heartbeat.stop() },
      {
        name: 'redis',
        close: async () => {
          await heartbeatRedis.quit();
        },
      },
      { name: 'telemetry', close: () => telemetry?.shutdown() ?? Promise.resolve() },
    ],
  });
}

const config = loadValidConfig();
if (config !== undefined) await main(config);
