import type { SystemConfig } from '@backbone/config';
import {
  exitAfterFailedStart,
  runSupervisedProcess,
  startHeartbeat,
  Supervisor,
  type ChildSpec,
  type ShutdownHook,
} from '@backbone/supervisor';
import {
  activeTelemetry,
  assertPortFree,
  startHealthServer,
  type HealthServer,
  type Logger,
  type Readiness,
} from '@backbone/telemetry';
import type { Redis } from 'ioredis';

type WorkerSettings = SystemConfig['workers'][keyof SystemConfig['workers']];

export interface RunWorkerOptions {
  /** The worker's role, e.g. `stream-bridge`: supervisor name and heartbeat key. */
  readonly worker: string;
  readonly config: SystemConfig;
  /** This worker's section of `config.workers`. */
  readonly settings: WorkerSettings;
  readonly logger: Logger;
  /** Started in order, stopped in reverse. */
  readonly children: readonly ChildSpec[];
  /** The client the heartbeat is published with (never closed here). */
  readonly heartbeatRedis: Redis;
  /**
   * The worker's readiness: `/livez`, `/readyz` and `/metrics` are then served on the settings'
   * host and port. Omitted by a worker that serves that port itself (the readiness-reporter).
   */
  readonly readyz?: () => Promise<Readiness>;
  /** Run in order at shutdown, after the heartbeat and health server stop, before telemetry flushes. */
  readonly onShutdown: readonly ShutdownHook[];
}

/**
 * Runs a worker process until it is told to stop: its children under a supervisor with the
 * configured restart intensity and backoff, its health server, its heartbeat (the first one is
 * published before any child starts). The supervisor owns
 * shutdown: a signal stops the children in reverse order, then the heartbeat (its key is deleted,
 * so the worker is gone at once, not after the TTL), the health server, `onShutdown` and last the
 * telemetry, whose final export then covers the whole shutdown. The same shutdown follows an
 * uncaught fault (exit 1) or, for a worker `./backbone start` launched, the launcher going away.
 * The process exits with the code the supervisor decides. A port held by another process ends the
 * start before any child runs: the error names the holder, `onShutdown` and telemetry close, exit 1.
 *
 * @example await runWorker({ worker: 'stream-bridge', config, settings: config.workers.streamBridge, logger, children, heartbeatRedis: redis, readyz: () => app.readiness(), onShutdown: [{ name: 'postgres', close: () => pool.end() }] });
 */
export async function runWorker(options: RunWorkerOptions): Promise<void> {
  const { worker, config, settings, logger } = options;
  const telemetry = activeTelemetry();
  const supervisor = new Supervisor({
    name: worker,
    logger,
    defaultShutdownDeadlineMs: settings.shutdownDeadlineMs,
    intensity: { maxRestarts: config.supervisor.maxRestarts, periodMs: config.supervisor.restartPeriodMs },
    backoff: { initialMs: config.supervisor.backoffInitialMs, maxMs: config.supervisor.backoffMaxMs },
    children: [...options.children],
  });
  const telemetryHook: ShutdownHook = {
    name: 'telemetry',
    close: () => telemetry?.shutdown() ?? Promise.resolve(),
  };
  let health: HealthServer | undefined;
  try {
    // The port first: one held by another process (a leftover worker) is a start-up error naming
    // that process, not a worker that runs without its probes or a child failing until escalation.
    if (options.readyz === undefined) await assertPortFree(settings.port, settings.host);
    else
      health = await startHealthServer({
        port: settings.port,
        host: settings.host,
        readyz: options.readyz,
        ...(telemetry === undefined ? {} : { metrics: telemetry.metricsHandler }),
      });
  } catch (error) {
    await exitAfterFailedStart(error, { logger, onShutdown: [...options.onShutdown, telemetryHook] });
    return;
  }
  const heartbeat = startHeartbeat({
    redis: options.heartbeatRedis,
    keyNamespace: config.redis.keyNamespace,
    worker,
    intervalMs: config.supervisor.heartbeatIntervalMs,
    ttlMs: config.supervisor.heartbeatTtlSeconds * 1000,
    snapshot: () => supervisor.snapshot(),
    logger,
  });
  if (health !== undefined) logger.info({ port: health.port }, 'health server listening');
  // Children start once the worker is listed as live: a readiness round they trigger (the
  // reporter's own first one) must not find the worker without a heartbeat.
  await heartbeat.firstBeat;

  await runSupervisedProcess(supervisor, {
    logger,
    onShutdown: [
      { name: 'heartbeat', close: () => heartbeat.stop() },
      ...(health === undefined ? [] : [{ name: 'health-server', close: () => health.close() }]),
      ...options.onShutdown,
      telemetryHook,
    ],
  });
}
