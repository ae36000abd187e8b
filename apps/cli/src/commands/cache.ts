import {
  CacheClient,
  DATASETS,
  InvalidCacheRequestError,
  createCacheRedis,
  createMarketDatasets,
  readCacheStats,
  redisReady,
  type DatasetName,
  type DatasetStats,
} from '@backbone/cache';
import { redactText, type SystemConfig } from '@backbone/config';
import { TIMEFRAMES, type Timeframe } from '@backbone/contracts';
import { createPool } from '@backbone/db';
import { type Command, Option } from 'commander';
import { loadCliConfig } from '../load-cli-config.ts';

/** How long the CLI waits for Redis before reading degraded (straight from the database). */
const REDIS_READY_TIMEOUT_MS = 1_000;

/**
 * `./backbone cache get <dataset> <symbol> [--timeframe …]` reads one hot slice through the
 * read-through client (exactly the path downstream services use, counted in the shared stats);
 * `./backbone cache stats [--json]` prints the shared per-dataset counters and hit ratios.
 * Exit 0 on success, 1 when the read or Redis failed, 2 for bad usage or invalid config.
 */
export function registerCacheCommand(program: Command): void {
  const cache = program.command('cache').description('Read the Redis hot cache and its hit ratios.');
  cache
    .command('get')
    .description('Read one hot slice through the read-through client; prints the value with its provenance.')
    .argument('<dataset>', `one of ${DATASETS.join(', ')}`)
    .argument('<symbol>', 'symbol (or currency code / ALL for macro-calendar)')
    .addOption(new Option('--timeframe <timeframe>', 'bar timeframe (bar datasets)').choices(TIMEFRAMES))
    .action(async (dataset: string, symbol: string, options: { timeframe?: Timeframe }) => {
      const config = loadCliConfig();
      if (!(DATASETS as readonly string[]).includes(dataset)) {
        process.stderr.write(`cache get: dataset must be one of ${DATASETS.join(', ')} (got ${dataset})\n`);
        process.exitCode = 2;
        return;
      }
      await withCache(config, async (client) => {
        try {
          const result = await client.get({
            dataset: dataset as DatasetName,
            symbol: symbol.toUpperCase(),
            timeframe: options.timeframe,
          });
          const status = client.status();
          if (status === 'degraded')
            process.stderr.write('cache degraded: Redis unreachable, read from the database\n');
          process.stdout.write(
            `${JSON.stringify({ source: result.source, status, ...result.envelope }, null, 2)}\n`,
          );
        } catch (error) {
          if (error instanceof InvalidCacheRequestError) {
            process.stderr.write(`cache get: ${error.message}\n`);
            process.exitCode = 2;
            return;
          }
          throw error;
        }
      });
    });
  cache
    .command('stats')
    .description('Hit ratios and counters per dataset, shared by every process using the cache.')
    .option('--json', 'print JSON', false)
    .action(async (options: { json: boolean }) => {
      const config = loadCliConfig();
      const redis = createCacheRedis(config.redis, {
        connectionName: 'backbone-cli',
        onError: () => undefined,
      });
      try {
        if (!(await redisReady(redis, REDIS_READY_TIMEOUT_MS))) {
          process.stderr.write('cache stats: Redis unreachable\n');
          process.exitCode = 1;
          return;
        }
        const stats = await readCacheStats(redis, config.redis.keyNamespace);
        process.stdout.write(
          options.json ? `${JSON.stringify({ datasets: stats }, null, 2)}\n` : table(stats),
        );
      } catch (error) {
        process.stderr.write(`cache stats failed: ${describe(error)}\n`);
        process.exitCode = 1;
      } finally {
        redis.disconnect();
      }
    });
}

async function withCache(config: SystemConfig, work: (client: CacheClient) => Promise<void>): Promise<void> {
  const pool = createPool(config.database, { applicationName: 'backbone-cli', onError: () => undefined });
  const redis = createCacheRedis(config.redis, { connectionName: 'backbone-cli', onError: () => undefined });
  const client = new CacheClient({
    redis,
    keyNamespace: config.redis.keyNamespace,
    datasets: createMarketDatasets(pool, config.redis.cache.datasets),
    policy: config.redis.cache,
  });
  try {
    await redisReady(redis, REDIS_READY_TIMEOUT_MS);
    await work(client);
  } catch (error) {
    process.stderr.write(`cache get failed: ${describe(error)}\n`);
    process.exitCode = 1;
  } finally {
    // close() flushes this command's counts into the shared stats.
    await client.close();
    redis.disconnect();
    await pool.end();
  }
}

function describe(error: unknown): string {
  const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return redactText(message);
}

function table(stats: readonly DatasetStats[]): string {
  const header = [
    'dataset',
    'hits',
    'misses',
    'hit ratio',
    'stale',
    'corrupt',
    'degraded',
    'loads',
    'load errors',
    'mean load ms',
  ];
  const rows = stats.map((s) => [
    s.dataset,
    String(s.hits),
    String(s.misses),
    s.hitRatio === null ? '-' : `${(s.hitRatio * 100).toFixed(1)}%`,
    String(s.stale),
    String(s.corrupt),
    String(s.degraded),
    String(s.loads),
    String(s.loadErrors),
    s.meanLoadMs === null ? '-' : s.meanLoadMs.toFixed(2),
  ]);
  const widths = header.map((title, i) => Math.max(title.length, ...rows.map((row) => row[i]?.length ?? 0)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((cell, i) => cell.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  return `${[line(header), ...rows.map(line)].join('\n')}\n`;
}
