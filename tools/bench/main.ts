/**
 * The benchmark harness (issue #9): the project against the machine's own limits, side by side
 * in one run. Not part of `npm test`; speed is measured here, never asserted in tests.
 *
 *   npm run bench -- [--quick] [--only sink,ingest,freshness,cache,kafka-client,ha]
 *
 * Writes bench/results/<timestamp>.json (every raw sample) and regenerates docs/benchmarks.md.
 * Needs the local stack (`./backbone stack up`), psql and redis-benchmark on the PATH.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, platform, release, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig } from '@backbone/config';
import { runCacheScenario } from './cache-scenario.ts';
import { runFreshnessScenario } from './freshness-scenario.ts';
import { runHaScenario } from './ha-scenario.ts';
import { runIngestScenario } from './ingest-scenario.ts';
import { runKafkaClientScenario } from './kafka-client-scenario.ts';
import { command } from './measure.ts';
import { benchmarksMarkdown, type BenchResults } from './report.ts';
import { runSinkScenario } from './sink-scenario.ts';

const ROOT = new URL('../../', import.meta.url);
// Issue #9's numbering: sink 1, ingest 2, freshness 3 (with memory, 5), cache 4, kafka-client 6;
// ha 7 (issue 15: the cost of synchronous replication).
const SCENARIOS = ['sink', 'ingest', 'freshness', 'cache', 'kafka-client', 'ha'] as const;
type Scenario = (typeof SCENARIOS)[number];

/** Sizes per mode: quick stays under 2 minutes on the shared machine, full under 15. */
const SIZES = {
  // A smoke-level measurement: every path runs twice (the median of two). The sink and
  // ingest scenarios dominate its time (231 s in all at load 13-20 with 20,000 sink bars x 3 and
  // 100,000 ingest rows x 2); full mode is the measurement.
  quick: {
    sinkBars: 10_000,
    ingestRows: 30_000,
    repetitions: 2,
    ingestRepetitions: 2,
    cacheSeconds: 1,
    cacheRequests: 20_000,
    freshnessRate: 1_000,
    freshnessSeconds: 5,
    soakRate: 500,
    soakSeconds: 5,
    kafkaClientMessages: 10_000,
    kafkaClientRepetitions: 2,
    haBars: 10_000,
    haRows: 30_000,
    haRepetitions: 2,
  },
  // Sized for 15 minutes: 500,000 sink bars x 5 (with both psql references each time) and the
  // 1,000,000-row ingest x 3 alone were over it at the sink's ~10,000 rows/s; three repetitions
  // still give a median.
  full: {
    sinkBars: 200_000,
    ingestRows: 1_000_000,
    repetitions: 3,
    ingestRepetitions: 2,
    cacheSeconds: 5,
    cacheRequests: 1_000_000,
    freshnessRate: 5_000,
    freshnessSeconds: 30,
    soakRate: 1_000,
    soakSeconds: 150,
    kafkaClientMessages: 200_000,
    kafkaClientRepetitions: 3,
    // Three sides (single, HA local commit, HA synchronous) per repetition: about 3 minutes.
    haBars: 100_000,
    haRows: 200_000,
    haRepetitions: 3,
  },
} as const;

const USAGE = `Usage: npm run bench -- [--quick] [--only ${SCENARIOS.join(',')}]

Measures the project against the machine's own limits (psql \\copy, redis-benchmark, the raw
Kafka clients), side by side. Needs the local stack (./backbone stack up), psql and
redis-benchmark on the PATH; the ha scenario also starts a private PostgreSQL HA cluster
(patroni, etcd-server, haproxy; root or postgres) on free ports and stops it.

  --quick          a smoke-level run (under 2 minutes): every path twice, small sizes
  --only <list>    only these scenarios (comma-separated); docs/benchmarks.md is then unchanged
  -h, --help       this text

Writes bench/results/<timestamp>.json (every raw sample); a run of every scenario also
regenerates docs/benchmarks.md.
`;

async function main(): Promise<void> {
  let values: { quick: boolean; only?: string | undefined; help: boolean };
  try {
    ({ values } = parseArgs({
      args: process.argv.slice(2),
      options: {
        quick: { type: 'boolean', default: false },
        only: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }));
  } catch (error) {
    throw new UsageError(`${error instanceof Error ? error.message : String(error)}\n\n${USAGE}`);
  }
  if (values.help) {
    process.stdout.write(USAGE);
    return;
  }
  const only = parseOnly(values.only);
  const mode = values.quick ? 'quick' : 'full';
  const sizes = SIZES[mode];
  // The harness's own flags are not config flags: the config comes from files and the environment.
  const config = loadConfig({ argv: [] });
  const startedAt = new Date();
  const started = performance.now();
  const workDir = mkdtempSync(join(tmpdir(), 'backbone-bench-'));
  const log = (message: string): void => {
    process.stderr.write(`[bench ${((performance.now() - started) / 1000).toFixed(1)}s] ${message}\n`);
  };
  const scenarios: BenchResults['scenarios'] = {};
  try {
    if (only.has('sink')) {
      log(`sink: ${String(sizes.sinkBars)} bars x ${String(sizes.repetitions)}`);
      Object.assign(scenarios, {
        sink: await runSinkScenario({
          config,
          bars: sizes.sinkBars,
          repetitions: sizes.repetitions,
          workDir,
          timeoutMs: 600_000,
        }),
      });
    }
    if (only.has('ingest')) {
      log(`ingest: ${String(sizes.ingestRows)} rows x ${String(sizes.ingestRepetitions)}`);
      Object.assign(scenarios, {
        ingest: await runIngestScenario({
          config,
          rows: sizes.ingestRows,
          repetitions: sizes.ingestRepetitions,
          workDir,
        }),
      });
    }
    if (only.has('freshness')) {
      Object.assign(scenarios, {
        freshness: await runFreshnessScenario({
          config,
          rate: sizes.freshnessRate,
          seconds: sizes.freshnessSeconds,
          soakRate: sizes.soakRate,
          soakSeconds: sizes.soakSeconds,
          timeoutMs: 120_000,
          log,
        }),
      });
    }
    if (only.has('cache')) {
      log(`cache: ${String(sizes.cacheSeconds)} s loops x ${String(sizes.repetitions)}`);
      Object.assign(scenarios, {
        cache: await runCacheScenario({
          redisUrl: config.redis.url,
          concurrency: 50,
          seconds: sizes.cacheSeconds,
          requests: sizes.cacheRequests,
          repetitions: sizes.repetitions,
        }),
      });
    }
    if (only.has('kafka-client')) {
      log(
        `kafka-client: ${String(sizes.kafkaClientMessages)} messages x ${String(sizes.kafkaClientRepetitions)} per client`,
      );
      Object.assign(scenarios, {
        kafkaClient: await runKafkaClientScenario({
          config,
          messages: sizes.kafkaClientMessages,
          repetitions: sizes.kafkaClientRepetitions,
        }),
      });
    }
    if (only.has('ha')) {
      log(
        `ha: ${String(sizes.haBars)} sink bars and ${String(sizes.haRows)} ingest rows x ${String(sizes.haRepetitions)}, single vs HA`,
      );
      Object.assign(scenarios, {
        ha: await runHaScenario({
          config,
          bars: sizes.haBars,
          rows: sizes.haRows,
          repetitions: sizes.haRepetitions,
          workDir,
          timeoutMs: 600_000,
          log,
        }),
      });
    }
  } finally {
    rmSync(workDir, { recursive: true, force: true });
  }

  const results: BenchResults = {
    startedAt: startedAt.toISOString(),
    durationSeconds: (performance.now() - started) / 1000,
    mode,
    machine: {
      cores: cpus().length,
      cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
      memoryGb: Math.round((totalmem() / 1024 ** 3) * 10) / 10,
      loadAverageAtStart: loadavg(),
      platform: `${platform()} ${release()}`,
    },
    versions: await versions(config.database.url),
    scenarios,
  };
  const resultsDir = new URL('bench/results/', ROOT);
  mkdirSync(resultsDir, { recursive: true });
  const resultsFile = `bench/results/${startedAt
    .toISOString()
    .replaceAll(':', '-')
    .replace(/\.\d+Z$/, 'Z')}.json`;
  writeFileSync(new URL(resultsFile, ROOT), `${JSON.stringify(results, null, 2)}\n`);
  // docs/benchmarks.md is the whole picture: a partial run (--only) leaves it as it is.
  const complete = only.size === SCENARIOS.length;
  const written = [new URL(resultsFile, ROOT).pathname];
  if (complete) {
    writeFileSync(new URL('docs/benchmarks.md', ROOT), benchmarksMarkdown(results, resultsFile));
    written.push(new URL('docs/benchmarks.md', ROOT).pathname);
  }
  // Formatted like the rest of the repository, so a fresh run passes `npm run format:check`.
  await command(process.execPath, [
    new URL('node_modules/prettier/bin/prettier.cjs', ROOT).pathname,
    '--write',
    ...written,
  ]);
  log(
    `wrote ${resultsFile}${complete ? ' and docs/benchmarks.md' : ' (partial run: docs/benchmarks.md unchanged)'}`,
  );
  process.stdout.write(`${JSON.stringify(results.scenarios, null, 2)}\n`);
}

function parseOnly(value: string | undefined): Set<Scenario> {
  if (value === undefined) return new Set(SCENARIOS);
  const picked = value.split(',').map((name) => name.trim());
  const unknown = picked.filter((name) => !(SCENARIOS as readonly string[]).includes(name));
  if (unknown.length > 0) {
    throw new UsageError(
      `--only: unknown scenario(s) ${unknown.join(', ')} (one of ${SCENARIOS.join(', ')})`,
    );
  }
  return new Set(picked as Scenario[]);
}

class UsageError extends Error {
  override name = 'UsageError';
}

async function versions(databaseUrl: string): Promise<Record<string, string>> {
  const packageVersion = (name: string): string => {
    const file = new URL(`node_modules/${name}/package.json`, ROOT);
    return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
  };
  const tool = async (file: string, args: string[]): Promise<string> =>
    (await command(file, args).catch(() => 'unavailable')).trim();
  return {
    node: process.version,
    backbone:
      (await tool('git', ['-C', new URL('.', ROOT).pathname, 'rev-parse', '--short', 'HEAD'])) || 'unknown',
    postgresql: await tool('psql', ['--no-psqlrc', '-At', '-d', databaseUrl, '-c', 'SHOW server_version']),
    redis: (await tool('redis-server', ['--version'])).replace(/^.*v=(\S+).*$/, '$1'),
    kafkajs: packageVersion('kafkajs'),
    '@platformatic/kafka': packageVersion('@platformatic/kafka'),
    pg: packageVersion('pg'),
    ioredis: packageVersion('ioredis'),
  };
}

try {
  await main();
} catch (error) {
  process.stderr.write(
    error instanceof UsageError
      ? `bench: ${error.message}\n`
      : `bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exitCode = error instanceof UsageError ? 2 : 1;
}
