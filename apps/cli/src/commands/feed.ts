import { redactText, topicName, type SystemConfig } from '@backbone/config';
import {
  FeedUsageError,
  createBarFeed,
  createKafkajsClient,
  parseFeedRequest,
  publishFeed,
  type FeedProgress,
  type FeedRequest,
} from '@backbone/kafka';
import { createLogger, startTelemetry, telemetryOptionsFor } from '@backbone/telemetry';
import { SingleBar } from 'cli-progress';
import type { Command } from 'commander';
import { loadCliConfig } from '../load-cli-config.ts';

interface FeedFlags {
  symbols?: string;
  rate?: string;
  duration?: string;
  timeframe?: string;
  topic?: string;
  seed?: string;
  start?: string;
  batchSize?: string;
  maxOutage?: string;
  unpaced?: boolean;
}

/**
 * `./backbone feed`: a synthetic live feed of valid bars to `market.bars.v1`. Prints
 * `{ produced, durationSeconds, ratePerSecond, lastTsBySymbol }` as JSON on stdout; progress goes
 * to stderr (a bar on a terminal, JSON lines otherwise). Exit 0 when every bar was acknowledged,
 * 1 when producing failed, 2 for bad options. A broker restart does not end the feed: a request
 * failing on a retriable error is sent again for up to `--max-outage` seconds (the producer is
 * idempotent, so nothing is written twice); a permanent error (a missing topic) ends it at once.
 *
 * The feed runs with the telemetry SDK (service `backbone-feed`, exporters from config
 * `telemetry`): each produce request is a producer span whose `traceparent` every record
 * carries, so a trace starts at the feed and continues through the stream-bridge.
 */
export function registerFeedCommand(program: Command): void {
  program
    .command('feed')
    .description(
      'Publish round(rate × duration) valid random-walk bars (key = symbol) to market.bars.v1, paced at --rate per second',
    )
    .option('--symbols <list>', 'comma-separated symbols, e.g. EURUSD,GBPUSD (required)')
    .option('--rate <n>', 'bars per second, all symbols together (required)')
    .option('--duration <seconds>', 'seconds to publish (required)')
    .option('--timeframe <timeframe>', 'bar timeframe (default 1m)')
    .option('--topic <topic>', 'target topic (default: kafka.namespace + market.bars.v1)')
    .option('--seed <n>', 'random-walk seed; same seed and start, same bars (default 1)')
    .option('--start <iso>', 'open time of the first bar (default: so that the last bar opens before now)')
    .option('--batch-size <n>', 'most bars per produce request (default 2000)')
    .option(
      '--max-outage <seconds>',
      'how long a request may keep failing while the broker is away before the feed gives up; 0 gives up at once (default 120)',
    )
    .option(
      '--unpaced',
      'send the round(rate × duration) bars as fast as the broker acknowledges (benchmarks)',
    )
    .action(async (flags: FeedFlags) => {
      const config = loadCliConfig();
      let request: FeedRequest;
      try {
        request = parseFeedRequest(
          { ...flags, topic: flags.topic ?? topicName(config.kafka, 'market.bars.v1') },
          new Date(),
        );
      } catch (error) {
        if (!(error instanceof FeedUsageError)) throw error;
        process.stderr.write(`backbone feed: ${error.message}\n`);
        process.exitCode = 2;
        return;
      }
      try {
        await feed(config, request);
      } catch (error) {
        const message = redactText(error instanceof Error ? error.message : String(error));
        // kafkajs's words for a topic that does not exist (auto-creation is off on purpose).
        const hint = message.includes('does not host this topic-partition')
          ? ` (does topic ${request.topic} exist? ./backbone topics ensure creates it)`
          : '';
        process.stderr.write(`backbone feed: ${message}${hint}\n`);
        process.exitCode = 1;
      }
    });
}

async function feed(config: SystemConfig, request: FeedRequest): Promise<void> {
  const logger = createLogger({
    name: 'feed',
    level: config.telemetry.logLevel,
    destination: process.stderr,
  });
  // Started here, not with `--import` like a worker's: the SDK loads no instrumentation, so
  // nothing imported before it is missed, and only this command of the CLI needs it.
  const telemetry = startTelemetry({
    ...telemetryOptionsFor(config, process.argv[1]),
    serviceName: config.telemetry.serviceName ?? 'backbone-feed',
    logDestination: process.stderr,
  });
  const producer = createKafkajsClient({
    ...config.kafka,
    clientId: `${config.kafka.clientId}-feed`,
    logger,
    logLevel: 'warn',
  }).producer({ maxMessageBytes: config.kafka.maxMessageBytes });
  const progress = createProgress(request.totalBars, logger);
  try {
    await producer.connect();
    const summary = await publishFeed({
      producer,
      topic: request.topic,
      feed: createBarFeed({
        symbols: request.symbols,
        timeframe: request.timeframe,
        seed: request.seed,
        start: request.start,
      }),
      totalBars: request.totalBars,
      ratePerSecond: request.unpaced ? null : request.ratePerSecond,
      maxBatchSize: request.maxBatchSize,
      resend: {
        maxOutageMs: request.maxOutageSeconds * 1000,
        onResend: (error, pauseMs) => {
          logger.warn(
            { err: error, pauseMs },
            'feed: the broker did not acknowledge a request; sending it again',
          );
        },
      },
      onProgress: progress.update,
    });
    progress.stop();
    process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
  } finally {
    progress.stop();
    await producer.close();
    // Flushes the last spans to the exporters.
    await telemetry.shutdown();
  }
}

/** A bar on a terminal; one JSON log line per second otherwise. */
function createProgress(
  total: number,
  logger: ReturnType<typeof createLogger>,
): { update: (progress: FeedProgress) => void; stop: () => void } {
  if (!process.stderr.isTTY) {
    return {
      update: (progress) => {
        logger.info({ ...progress, ratePerSecond: Math.round(progress.ratePerSecond) }, 'feed progress');
      },
      stop: () => undefined,
    };
  }
  const bar = new SingleBar({
    stream: process.stderr,
    format: 'feed {bar} {percentage}% | {value}/{total} bars | {rate} bars/s',
    hideCursor: true,
  });
  bar.start(total, 0, { rate: 0 });
  let stopped = false;
  return {
    update: (progress) => {
      bar.update(progress.produced, { rate: Math.round(progress.ratePerSecond) });
    },
    stop: () => {
      if (stopped) return;
      stopped = true;
      bar.stop();
    },
  };
}
