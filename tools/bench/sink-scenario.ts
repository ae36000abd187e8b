import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { SystemConfig } from '@backbone/config';
import { createPool } from '@backbone/db';
import {
  createBarFeed,
  createKafkajsClient,
  publishFeed,
  type BarFeed,
  type KafkaClient,
} from '@backbone/kafka';
import { BarSink } from '@backbone/stream';
import { createLogger } from '@backbone/telemetry';
import { countBars, createBenchDatabase, uniqueBenchName, type BenchDatabase } from './database.ts';
import { ratio, series, timed, type Series } from './measure.ts';
import { copyMergeScript, plainCopyScript, runPsqlScript } from './psql-reference.ts';

export interface SinkScenarioOptions {
  readonly config: SystemConfig;
  readonly bars: number;
  readonly repetitions: number;
  readonly workDir: string;
  /** Longest wait for the sink to commit every bar of one repetition. */
  readonly timeoutMs: number;
}

export interface SinkScenarioResult {
  readonly bars: number;
  readonly partitions: number;
  readonly symbols: number;
  readonly produceRowsPerSecond: number;
  /** Rows/s from the first partition assignment to the last commit. */
  readonly sink: Series;
  /** Rows/s from `start()` to the last commit (group join included). */
  readonly sinkWithJoin: Series;
  readonly copyMerge: Series;
  readonly plainCopy: Series;
  readonly ratioToCopyMerge: number;
  readonly ratioToPlainCopy: number;
  /** Peak RSS (MB) of the harness process while the in-process sink ran. */
  readonly peakRssMb: number;
}

const SYMBOLS = Array.from({ length: 20 }, (_, i) => `SYM${String(i).padStart(2, '0')}`);
const SEED = 9;
const FEED_START = new Date('2026-01-05T00:00:00Z');
const POLL_MS = 5;

function feed(): BarFeed {
  return createBarFeed({ symbols: SYMBOLS, timeframe: '1m', seed: SEED, start: FEED_START });
}

/**
 * Scenario 1: N bars pre-produced (unpaced) to a topic of the benchmark's own, then per repetition
 * a fresh consumer group through `BarSink` into a truncated, migrated database; against psql
 * `\copy` + merge and plain `\copy` of the very same rows.
 */
export async function runSinkScenario(options: SinkScenarioOptions): Promise<SinkScenarioResult> {
  const { config, bars, repetitions } = options;
  const partitions = config.kafka.topics['market.bars.v1'].partitions;
  const kafka = createKafkajsClient({ ...config.kafka, clientId: 'backbone-bench', logLevel: 'error' });
  const topic = uniqueBenchName('bench_bars');
  const database = await createBenchDatabase(config.database.url, 'bench_sink');
  const admin = kafka.admin();
  await admin.connect();
  try {
    await admin.createTopics([{ name: topic, partitions, replicationFactor: 1, configs: {} }]);
    const produced = await produceBenchBars(kafka, config, topic, bars);

    const csv = join(options.workDir, 'sink-bars.csv');
    const range = writeFeedCsv(csv, bars);
    const script = join(options.workDir, 'sink.sql');

    const sink: number[] = [];
    const sinkWithJoin: number[] = [];
    const copyMerge: number[] = [];
    const plainCopy: number[] = [];
    let peakRss = 0;
    for (let i = 0; i < repetitions; i++) {
      await database.reset();
      const run = await runSinkOnce(kafka, config, database, topic, bars, options.timeoutMs);
      peakRss = Math.max(peakRss, run.peakRss);
      sink.push(bars / run.fromAssignment);
      sinkWithJoin.push(bars / run.fromStart);
      await expectBars(database, bars, 'BarSink');

      await database.reset();
      copyMerge.push(
        bars /
          (await timed(() =>
            runPsqlScript(database.url, script, copyMergeScript(csv, { header: false, hasSource: true })),
          )),
      );
      await expectBars(database, bars, 'psql \\copy + merge');

      await database.reset();
      plainCopy.push(
        bars / (await timed(() => runPsqlScript(database.url, script, plainCopyScript(csv, range)))),
      );
      await expectBars(database, bars, 'psql plain \\copy');
    }
    const sinkSeries = series(sink);
    const copyMergeSeries = series(copyMerge);
    const plainCopySeries = series(plainCopy);
    return {
      bars,
      partitions,
      symbols: SYMBOLS.length,
      produceRowsPerSecond: Math.round(produced.ratePerSecond),
      sink: sinkSeries,
      sinkWithJoin: series(sinkWithJoin),
      copyMerge: copyMergeSeries,
      plainCopy: plainCopySeries,
      ratioToCopyMerge: ratio(sinkSeries, copyMergeSeries),
      ratioToPlainCopy: ratio(sinkSeries, plainCopySeries),
      peakRssMb: Math.round(peakRss / 1024 / 1024),
    };
  } finally {
    await admin.deleteTopics([topic]).catch(() => undefined);
    await admin.close();
    await database.drop();
  }
}

/** The scenario's bars, produced unpaced to `topic` (an existing topic of the benchmark's own). */
export async function produceBenchBars(
  kafka: KafkaClient,
  config: SystemConfig,
  topic: string,
  bars: number,
): Promise<{ produced: number; ratePerSecond: number }> {
  const producer = kafka.producer({ maxMessageBytes: config.kafka.maxMessageBytes });
  await producer.connect();
  try {
    const produced = await publishFeed({
      producer,
      topic,
      feed: feed(),
      totalBars: bars,
      ratePerSecond: null,
    });
    if (produced.produced !== bars) throw new Error(`produced ${produced.produced} of ${bars} bars`);
    return produced;
  } finally {
    await producer.close();
  }
}

export interface SinkRun {
  /** Seconds from the first partition assignment to the last commit. */
  readonly fromAssignment: number;
  /** Seconds from `start()` to the last commit. */
  readonly fromStart: number;
  readonly peakRss: number;
}

/** One repetition: a fresh consumer group reads the whole topic through `BarSink` into `database`. */
export async function runSinkOnce(
  kafka: KafkaClient,
  config: SystemConfig,
  database: BenchDatabase,
  topic: string,
  bars: number,
  timeoutMs: number,
): Promise<SinkRun> {
  const pool = createPool({ ...config.database, url: database.url }, { applicationName: 'backbone-bench' });
  const sink = new BarSink({
    kafka,
    pool,
    logger: createLogger({ name: 'bench-sink', level: 'warn' }),
    groupId: uniqueBenchName('bench_group'),
    topic,
    deadLetterTopic: `${topic}_dlq`,
    ingestEventsTopic: `${topic}_events`,
    maxBatchRecords: config.kafka.consumer.maxBatchRecords,
    maxBatchBytes: config.kafka.consumer.maxBatchBytes,
    maxMessageBytes: config.kafka.maxMessageBytes,
    concurrency: config.workers.streamBridge.concurrency,
  });
  const started = performance.now();
  let assignedAt: number | undefined;
  let peakRss = process.memoryUsage().rss;
  try {
    await sink.start();
    // Polling, not a fixed sleep: the loop ends at the first poll that sees every bar committed.
    for (;;) {
      const stats = sink.stats();
      const now = performance.now();
      peakRss = Math.max(peakRss, process.memoryUsage().rss);
      if (assignedAt === undefined && stats.assignments > 0) assignedAt = now;
      if (stats.inserted + stats.updated + stats.unchanged >= bars) {
        return {
          fromAssignment: (now - (assignedAt ?? started)) / 1000,
          fromStart: (now - started) / 1000,
          peakRss,
        };
      }
      if (stats.deadLettered > 0)
        throw new Error(`the sink dead-lettered ${stats.deadLettered} generated bars`);
      if (now - started > timeoutMs) {
        throw new Error(`the sink committed ${stats.records} of ${bars} bars within ${timeoutMs} ms`);
      }
      await sleep(POLL_MS);
    }
  } finally {
    await sink.stop();
    await pool.end();
  }
}

/** The feed's bars as CSV with a source column (the psql references' input); returns the ts range. */
function writeFeedCsv(file: string, bars: number): { from: string; to: string } {
  const source = feed();
  const lines: string[] = [];
  let from = '';
  let to = '';
  for (let i = 0; i < bars; i++) {
    const bar = source.next();
    if (from === '' || bar.ts < from) from = bar.ts;
    if (bar.ts > to) to = bar.ts;
    lines.push(
      [
        bar.symbol,
        bar.timeframe,
        bar.ts,
        bar.open,
        bar.high,
        bar.low,
        bar.close,
        bar.volume,
        bar.source,
      ].join(','),
    );
  }
  writeFileSync(file, `${lines.join('\n')}\n`);
  return { from, to };
}

async function expectBars(database: BenchDatabase, bars: number, path: string): Promise<void> {
  const stored = await countBars(database.url);
  if (stored !== bars) throw new Error(`${path} stored ${stored} of ${bars} bars`);
}
