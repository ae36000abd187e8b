/**
 * One worker (stream-bridge or cache-warmer) as its own process, for the freshness and memory
 * scenarios. It wires the same app objects as apps/<worker>/src/main.ts under a supervisor, with
 * the telemetry registration of `./backbone serve` (see ../../backbone), but on topics and
 * consumer groups of the benchmark's own: the deployed entry points hard-wire the contract topic
 * names and group ids, and running them here would join the groups of whatever else uses the
 * shared broker. Left out: the health server and the Redis heartbeat (neither is on the data path).
 *
 *   node --import libs/telemetry/src/register.ts tools/bench/worker-process.ts \
 *     <stream-bridge|cache-warmer> '<BenchWorkerTopics JSON>' --set database.url=… …
 *
 * Prints one line `{"bench":"assigned"}` once its consumer has partitions, then JSON logs.
 */
import { CacheClient, createCacheRedis, createMarketDatasets, DATASETS } from '@backbone/cache';
import { loadConfig, redactText, type SystemConfig } from '@backbone/config';
import { createPool } from '@backbone/db';
import { createKafkajsClient } from '@backbone/kafka';
import { runSupervisedProcess, Supervisor, type ChildSpec } from '@backbone/supervisor';
import { activeTelemetry, createLogger, type Logger } from '@backbone/telemetry';
import { Redis } from 'ioredis';
import { CacheWarmer } from '../../apps/cache-warmer/src/lib/cache-warmer.ts';
import { StreamBridge } from '../../apps/stream-bridge/src/lib/stream-bridge.ts';

/** Topics and groups of one benchmark run, shared by both worker processes. */
export interface BenchWorkerTopics {
  readonly bars: string;
  readonly deadLetter: string;
  readonly ingestEvents: string;
  readonly bridgeGroupId: string;
  readonly warmerGroupId: string;
}

export const ASSIGNED_LINE = '{"bench":"assigned"}';
const ASSIGNMENT_POLL_MS = 50;

async function streamBridge(config: SystemConfig, topics: BenchWorkerTopics, logger: Logger): Promise<void> {
  const pool = createPool(config.database, { applicationName: 'bench-stream-bridge' });
  const kafka = createKafkajsClient({
    ...config.kafka,
    clientId: 'bench-stream-bridge',
    logger,
    logLevel: 'warn',
  });
  const app = new StreamBridge({
    config,
    pool,
    kafka,
    logger,
    topics: { bars: topics.bars, deadLetter: topics.deadLetter, ingestEvents: topics.ingestEvents },
    groupId: topics.bridgeGroupId,
  });
  await app.start();
  const supervisor = new Supervisor({
    name: 'stream-bridge',
    logger,
    defaultShutdownDeadlineMs: config.workers.streamBridge.shutdownDeadlineMs,
    children: app.children,
  });
  const assigned = setInterval(() => {
    if ((app.sink?.stats().assignments ?? 0) === 0) return;
    clearInterval(assigned);
    process.stdout.write(`${ASSIGNED_LINE}\n`);
  }, ASSIGNMENT_POLL_MS);
  await runSupervisedProcess(supervisor, {
    logger,
    onShutdown: [
      {
        name: 'assignment-poll',
        close: () => {
          clearInterval(assigned);
          return Promise.resolve();
        },
      },
      { name: 'stream-bridge', close: () => app.stop() },
      { name: 'postgres', close: () => pool.end() },
      { name: 'telemetry', close: () => activeTelemetry()?.shutdown() ?? Promise.resolve() },
    ],
  });
}

async function cacheWarmer(config: SystemConfig, topics: BenchWorkerTopics, logger: Logger): Promise<void> {
  const settings = config.workers.cacheWarmer;
  const cacheConfig = config.redis.cache;
  const warnRedis = (error: Error): void => {
    logger.warn({ err: redactText(error.message) }, 'redis connection error');
  };
  const pool = createPool(config.database, { applicationName: 'bench-cache-warmer' });
  const cacheRedis = createCacheRedis(config.redis, {
    connectionName: 'bench-cache-warmer',
    onError: warnRedis,
  });
  const workerRedis = new Redis(config.redis.url, { maxRetriesPerRequest: null });
  const queueRedis = new Redis(config.redis.url, { maxRetriesPerRequest: 2 });
  for (const client of [workerRedis, queueRedis]) client.on('error', warnRedis);
  const kafka = createKafkajsClient({
    brokers: config.kafka.brokers,
    clientId: 'bench-cache-warmer',
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
    listenConnection: {
      connectionString: config.database.url,
      application_name: 'bench-cache-warmer-listen',
    },
    kafka,
    queueRedis,
    workerRedis,
    logger,
    keyNamespace: config.redis.keyNamespace,
    datasets: new Set(DATASETS.filter((name) => datasets[name] !== undefined)),
    concurrency: settings.concurrency,
    rewarmEveryMs: Math.max(1_000, (cacheConfig.ttlSeconds * 1000) / 2),
    maxKeysPerDataset: cacheConfig.maxKeysPerDataset,
    discoveryDays: cacheConfig.datasets.rollups.days,
    marketDataSchema: config.database.schemas.marketData,
    topic: topics.ingestEvents,
    groupId: topics.warmerGroupId,
  });
  const child = (name: string, run: (signal: AbortSignal) => Promise<void>): ChildSpec => ({
    name,
    restart: 'permanent',
    shutdownDeadlineMs: settings.shutdownDeadlineMs,
    start: run,
  });
  const supervisor = new Supervisor({
    name: 'cache-warmer',
    logger,
    defaultShutdownDeadlineMs: settings.shutdownDeadlineMs,
    children: [
      child('warm-worker', (signal) => warmer.runWorker(signal)),
      child('ingest-events-consumer', (signal) => warmer.runEventsConsumer(signal)),
      child('rewarm-scheduler', (signal) => warmer.runScheduler(signal)),
      child('rollups-listener', (signal) => warmer.runRollupsListener(signal)),
    ],
  });
  void warmer.assigned.then(() => process.stdout.write(`${ASSIGNED_LINE}\n`));
  await runSupervisedProcess(supervisor, {
    logger,
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
      { name: 'telemetry', close: () => activeTelemetry()?.shutdown() ?? Promise.resolve() },
    ],
  });
}

const WORKERS = { 'stream-bridge': streamBridge, 'cache-warmer': cacheWarmer } as const;

// Only when run as a process: the scenario imports the types and the assigned line from here.
if (import.meta.main) {
  const [worker, topicsJson, ...configArgs] = process.argv.slice(2);
  const run = WORKERS[worker as keyof typeof WORKERS] as (typeof WORKERS)[keyof typeof WORKERS] | undefined;
  if (run === undefined || topicsJson === undefined) {
    process.stderr.write(
      `usage: worker-process.ts <${Object.keys(WORKERS).join('|')}> <topics JSON> [--set …]\n`,
    );
    process.exitCode = 2;
  } else {
    const config = loadConfig({ argv: configArgs });
    await run(
      config,
      JSON.parse(topicsJson) as BenchWorkerTopics,
      createLogger({ name: `bench-${worker}`, level: config.telemetry.logLevel }),
    );
  }
}
