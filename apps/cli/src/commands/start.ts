import { spawn, type ChildProcess } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { parseConfigArgs, redactText, topicName, type SystemConfig } from '@backbone/config';
import { createPool, migrate, refreshRollups } from '@backbone/db';
import { parseIngestRequest, runIngest } from '@backbone/ingest';
import {
  createBarFeed,
  createKafkajsClient,
  defaultFeedStart,
  ensureTopics,
  publishFeed,
  topicSpecsFromConfig,
} from '@backbone/kafka';
import { stackOptions, stackUp } from '@backbone/stack';
import { runSupervisedProcess, Supervisor, type ChildSpec } from '@backbone/supervisor';
import { createLogger, type Logger } from '@backbone/telemetry';
import type { Command } from 'commander';
import { loadCliConfig } from '../load-cli-config.ts';

/** The launcher: `serve <worker>` through it is exactly what the worker's container runs. */
const LAUNCHER = fileURLToPath(new URL('../../../../backbone', import.meta.url));
const FIXTURES_DIR = fileURLToPath(new URL('../../../../fixtures/bars/', import.meta.url));

/** Worker processes in start order; the supervisor stops them in reverse. */
const WORKERS = [
  { process: 'stream-bridge', config: 'streamBridge' },
  { process: 'timescale-ingestor', config: 'timescaleIngestor' },
  { process: 'cache-warmer', config: 'cacheWarmer' },
  { process: 'readiness-reporter', config: 'readinessReporter' },
] as const;

/** Grace beyond a worker's own shutdown deadline: its process still has to close its clients. */
const PROCESS_EXIT_GRACE_MS = 5_000;

/** How long the reporter waits for the other workers to be ready before it starts anyway. */
const WORKERS_READY_TIMEOUT_MS = 120_000;

interface StartOptions {
  feed: boolean;
  feedRate: string;
  feedMinutes: string;
  fixtures: boolean;
}

/**
 * `./backbone start` (what `npm start` runs): the whole backbone on this machine. It brings the
 * local stack up, migrates, ensures the topics and ingests the shipped fixtures, then runs the four
 * workers as four separate processes (`./backbone serve <worker>`, each line prefixed with the
 * worker's name) and a modest synthetic feed, under one supervisor. Ctrl-C stops the feed and the
 * workers in reverse order, each within its deadline; the exit code says whether anything failed
 * or was orphaned.
 */
export function registerStartCommand(program: Command): void {
  program
    .command('start')
    .description('Run the whole backbone here: stack, migrations, topics, fixtures, four workers, a feed')
    .option('--no-feed', 'do not run the synthetic feed')
    .option('--feed-rate <barsPerSecond>', 'synthetic feed rate', '50')
    .option('--feed-minutes <minutes>', 'how long the feed runs; its last bars open at about now', '10')
    .option('--no-fixtures', 'do not ingest the shipped fixtures')
    .action(async (options: StartOptions) => {
      const config = loadCliConfig();
      const logger = createLogger({ name: 'start', level: config.telemetry.logLevel });
      const feedRate = positiveNumber(options.feedRate, '--feed-rate');
      const feedMinutes = positiveNumber(options.feedMinutes, '--feed-minutes');
      if (feedRate === undefined || feedMinutes === undefined) return;

      try {
        await prepare(config, logger, options.fixtures);
      } catch (error) {
        logger.error({ err: error }, `start: ${redactText(errorMessage(error))}`);
        process.exitCode = 1;
        return;
      }

      const processes = new Set<ChildProcess>();
      // The reporter starts once the others answer /readyz (by then each has published its first
      // heartbeat), so its first round judges running workers instead of ones still starting.
      const others = WORKERS.filter((worker) => worker.process !== 'readiness-reporter');
      const children: ChildSpec[] = WORKERS.map((worker) =>
        workerProcess(
          worker.process,
          config.workers[worker.config].shutdownDeadlineMs,
          processes,
          worker.process === 'readiness-reporter'
            ? (signal) => workersReady(config, others, logger, signal)
            : undefined,
        ),
      );
      if (options.feed) children.push(feedChild(config, logger, feedRate, feedMinutes * 60));
      const supervisor = new Supervisor({ name: 'backbone', logger, children });
      const readiness = config.workers.readinessReporter;
      logger.info({}, `dashboard: http://${readiness.host}:${readiness.port}/ (Ctrl-C stops everything)`);
      await runSupervisedProcess(supervisor, {
        logger,
        // A worker that outlived its deadline is reported orphaned; it must not outlive us too.
        onShutdown: [{ name: 'leftover-workers', close: () => killAll(processes) }],
      });
    });
}

/** Everything the workers expect to find: the stack, the schema, the topics, the fixture data. */
async function prepare(config: SystemConfig, logger: Logger, fixtures: boolean): Promise<void> {
  logger.info({}, 'stack: bringing up TimescaleDB, PostgreSQL, Redis and Kafka where they are not running');
  const log = (message: string): void => {
    logger.info({}, `stack: ${message}`);
  };
  const statuses = await stackUp(stackOptions({ log }));
  logger.info({ services: statuses.map((s) => `${s.service} ${s.state} ${s.endpoint}`) }, 'stack: up');

  const pool = createPool(
    { ...config.database, statementTimeoutMs: 0 },
    { applicationName: 'backbone-start' },
  );
  try {
    const client = await pool.connect();
    try {
      const result = await migrate(client, { storage: config.storage });
      for (const warning of result.warnings) logger.warn({ mode: result.mode }, `migrations: ${warning}`);
      logger.info({ mode: result.mode, applied: result.applied.length }, 'migrations: up to date');
    } finally {
      client.release();
    }

    const admin = createKafkajsClient({
      ...config.kafka,
      clientId: `${config.kafka.clientId}-start`,
      logger,
    }).admin();
    await admin.connect();
    try {
      const report = await ensureTopics(admin, topicSpecsFromConfig(config.kafka), { dryRun: false });
      logger.info({ topics: report.topics.map((t) => `${t.topic} ${t.action}`) }, 'topics: ensured');
      if (!report.ok)
        throw new Error('topics: a topic differs from the configuration; run ./backbone topics ensure');
    } finally {
      await admin.close();
    }

    if (fixtures) {
      const files = (await readdir(FIXTURES_DIR)).filter((name) => name.endsWith('.csv')).sort();
      const request = parseIngestRequest(
        { provider: 'csv', files: files.map((name) => `${FIXTURES_DIR}${name}`) },
        new Date(),
      );
      const result = await runIngest({ pool, config }, request);
      const { runId, status, inserted, updated, unchanged, rejected } = result;
      logger.info({ runId, status, inserted, updated, unchanged, rejected }, 'fixtures: ingested');
      // The ingestor rolls the 1m bars up on its first maintenance pass, seconds after it starts;
      // without this the reporter's first round finds the fixtures' 1m bars without their 1h
      // rollup and warns (freshness.rollups).
      const oldest = await pool.query<{ oldest: Date | null }>(
        "SELECT min(ts) AS oldest FROM market_data.bars WHERE timeframe = '1m'",
      );
      const from = oldest.rows[0]?.oldest;
      if (from !== null && from !== undefined) {
        const rollups = await refreshRollups(pool, { from, to: new Date() });
        logger.info({ from: rollups.from, to: rollups.to }, 'fixtures: rolled up');
      }
    }
  } finally {
    await pool.end();
  }
}

/**
 * One worker as its own OS process. It runs until it exits: exit code 0 is a normal exit, anything
 * else a failure the supervisor restarts (transient) within its intensity. Stopping sends SIGTERM,
 * which the worker's own supervisor turns into its graceful shutdown.
 */
function workerProcess(
  name: string,
  shutdownDeadlineMs: number,
  processes: Set<ChildProcess>,
  before?: (signal: AbortSignal) => Promise<void>,
): ChildSpec {
  return {
    name,
    restart: 'transient',
    shutdownDeadlineMs: shutdownDeadlineMs + PROCESS_EXIT_GRACE_MS,
    start: async (signal) => {
      await before?.(signal);
      if (signal.aborted) return;
      await new Promise<void>((resolve, reject) => {
        const configArgs = forwardedConfigArgs();
        // Its own process group: a terminal's Ctrl-C reaches only us, and we stop the workers in
        // order. The IPC channel is its lifeline: it closes when we die, even by SIGKILL (the OOM
        // killer, a closed terminal), and the worker's supervisor then shuts it down (parent-gone),
        // so no worker outlives us holding its port.
        const child = spawn(LAUNCHER, ['serve', name, ...configArgs], {
          stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
          detached: true,
        });
        processes.add(child);
        // Both are pipes ('pipe' above); spawn's typings know that only for a three-element stdio.
        prefixLines(child.stdout as Readable, process.stdout, name);
        prefixLines(child.stderr as Readable, process.stderr, name);
        const stop = (): void => {
          child.kill('SIGTERM');
        };
        signal.addEventListener('abort', stop, { once: true });
        child.once('error', reject);
        child.once('exit', (code, exitSignal) => {
          processes.delete(child);
          signal.removeEventListener('abort', stop);
          if (code === 0) resolve();
          else
            reject(
              new Error(
                `${name} exited with ${code === null ? `signal ${exitSignal ?? '?'}` : `code ${code}`}`,
              ),
            );
        });
      });
    },
  };
}

/**
 * Resolves once every worker in `workers` answers `/readyz` with 200, or after
 * {@link WORKERS_READY_TIMEOUT_MS} (logged: the reporter then shows what is not ready), or at abort.
 */
async function workersReady(
  config: SystemConfig,
  workers: readonly (typeof WORKERS)[number][],
  logger: Logger,
  signal: AbortSignal,
): Promise<void> {
  const deadline = performance.now() + WORKERS_READY_TIMEOUT_MS;
  const pending = new Set(workers);
  while (pending.size > 0 && !signal.aborted) {
    for (const worker of [...pending]) {
      const { host, port } = config.workers[worker.config];
      // A worker bound to every interface is reached on loopback.
      const address = host === '0.0.0.0' ? '127.0.0.1' : host;
      const ready = await fetch(`http://${address}:${port}/readyz`, {
        signal: AbortSignal.timeout(2_000),
      }).then(
        (response) => response.ok,
        () => false,
      );
      if (ready) pending.delete(worker);
    }
    if (pending.size === 0) break;
    if (performance.now() >= deadline) {
      logger.warn(
        { notReady: [...pending].map((worker) => worker.process) },
        'start: workers not ready; starting the readiness-reporter anyway',
      );
      return;
    }
    await sleep(250, undefined, { signal }).catch(() => undefined);
  }
}

/** The synthetic feed, in this process: bars whose last ones open at about now when it ends. */
function feedChild(
  config: SystemConfig,
  logger: Logger,
  ratePerSecond: number,
  durationSeconds: number,
): ChildSpec {
  return {
    name: 'feed',
    restart: 'transient',
    start: async (signal) => {
      const symbols = ['EURUSD', 'GBPUSD', 'USDJPY', 'SPY'];
      const totalBars = Math.round(ratePerSecond * durationSeconds);
      // Bars are history walking toward now, so none is rejected as being in the future.
      const start = defaultFeedStart(new Date(), '1m', totalBars, symbols.length);
      const feed = createBarFeed({ symbols, timeframe: '1m', seed: Date.now(), start });
      const producer = createKafkajsClient({
        ...config.kafka,
        clientId: `${config.kafka.clientId}-feed`,
        logger,
      }).producer();
      await producer.connect();
      try {
        const summary = await publishFeed({
          producer,
          topic: topicName(config.kafka, 'market.bars.v1'),
          feed,
          totalBars,
          ratePerSecond,
          signal,
          // Rides out a broker restart until Ctrl-C instead of restarting with a new feed.
          resend: {
            maxOutageMs: Infinity,
            onResend: (error) => {
              logger.warn({ err: error }, 'feed: the broker did not acknowledge a request; sending it again');
            },
          },
          progressIntervalMs: 30_000,
          onProgress: (progress) => {
            logger.info({ ...progress }, 'feed: progress');
          },
        });
        logger.info({ produced: summary.produced, lastTsBySymbol: summary.lastTsBySymbol }, 'feed: done');
      } finally {
        await producer.close();
      }
    },
  };
}

/** `--config`, `--env-file` and `--set` given to `start`, handed on to every worker. */
function forwardedConfigArgs(): string[] {
  const args = parseConfigArgs(process.argv.slice(2));
  return [
    ...(args.configFile === undefined ? [] : ['--config', args.configFile]),
    ...(args.envFile === undefined ? [] : ['--env-file', args.envFile]),
    ...args.sets.flatMap((set) => ['--set', set]),
  ];
}

function prefixLines(input: NodeJS.ReadableStream, output: NodeJS.WritableStream, name: string): void {
  const label = `[${name}] `.padEnd(22);
  createInterface({ input, crlfDelay: Infinity }).on('line', (line) => {
    output.write(`${label}${line}\n`);
  });
}

function killAll(processes: Set<ChildProcess>): Promise<void> {
  for (const child of processes) child.kill('SIGKILL');
  return Promise.resolve();
}

function positiveNumber(text: string, option: string): number | undefined {
  const value = Number(text);
  if (Number.isFinite(value) && value > 0) return value;
  process.stderr.write(`backbone start: ${option} must be a positive number, got "${text}"\n`);
  process.exitCode = 2;
  return undefined;
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
