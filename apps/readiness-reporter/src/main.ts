/**
 * The readiness-reporter process: config → logger → one app object whose probe loop runs as a
 * supervisor child, run by the worker runtime (supervisor, heartbeat, shutdown). The app serves
 * its own port (readiness, dashboard, metrics), so the runtime starts no health server.
 *
 *   node --import @backbone/telemetry/register apps/readiness-reporter/src/main.ts
 */
import type { SystemConfig } from '@backbone/config';
import { createLogger } from '@backbone/telemetry';
import { createWorkerRedis, loadWorkerConfig, runWorker } from '@backbone/worker-runtime';
import { ReporterApp } from './lib/reporter-app.ts';

const WORKER = 'readiness-reporter';

async function main(config: SystemConfig): Promise<void> {
  const settings = config.workers.readinessReporter;
  const logger = createLogger({ name: WORKER, level: config.telemetry.logLevel });
  // The heartbeat has its own client: the probes' client fails fast by design, a heartbeat retries.
  const heartbeatRedis = createWorkerRedis(config.redis, { logger, connectionName: `${WORKER}-heartbeat` });
  await runWorker({
    worker: WORKER,
    config,
    settings,
    logger,
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
    heartbeatRedis,
    onShutdown: [
      {
        name: 'redis',
        close: async () => {
          await heartbeatRedis.quit();
        },
      },
    ],
  });
}

const config = loadWorkerConfig();
if (config !== undefined) await main(config);
