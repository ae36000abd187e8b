import { redactText, streamBridgeGroupId, topicName, type SystemConfig } from '@backbone/config';
import { barRuleOptionsFromSettings, type BarRuleOptions } from '@backbone/contracts';
import type { AdminPort, KafkaClient } from '@backbone/kafka';
import {
  BarSink,
  oldestUnsentOutboxEvent,
  OutboxRelay,
  registerLagGauge,
  stalledPartitions,
  type BarSinkStats,
  type SinkFaultHooks,
  type StalledPartition,
} from '@backbone/stream';
import type { ChildSpec } from '@backbone/supervisor';
import type { Logger, Readiness } from '@backbone/telemetry';
import type pg from 'pg';

/** The topics the bridge uses; injectable so tests never touch the real ones. */
export interface StreamBridgeTopics {
  readonly bars: string;
  readonly deadLetter: string;
  readonly ingestEvents: string;
}

export interface StreamBridgeOptions {
  readonly config: SystemConfig;
  readonly pool: pg.Pool;
  readonly kafka: KafkaClient;
  readonly logger: Logger;
  /** Default: the configured names (`kafka.namespace` + `market.bars.v1`, …). */
  readonly topics?: StreamBridgeTopics;
  /** Default: `kafka.namespace` + `stream-bridge`; also its `group_id` in `backbone.consumer_offsets`. */
  readonly groupId?: string;
  /** How long a readiness probe of one dependency may take. */
  readonly probeTimeoutMs?: number;
  /** Crash-test hooks of the sink; production leaves them unset. */
  readonly sinkFaults?: SinkFaultHooks;
}

/**
 * The stream-bridge worker: two supervised children, `sink` (market.bars.v1 → market_data.bars,
 * exactly once, dead letters to the DLQ) and `outbox-relay` (backbone.outbox → Kafka), plus the
 * consumer-lag and outbox-age gauges and the readiness probe. `main.ts` wires the clients in.
 *
 * @example
 * const bridge = new StreamBridge({ config, pool, kafka, logger });
 * await bridge.start();
 * const supervisor = new Supervisor({ name: 'stream-bridge', children: bridge.children });
 */
export class StreamBridge {
  readonly topics: StreamBridgeTopics;
  readonly groupId: string;
  readonly #options: StreamBridgeOptions;
  readonly #admin: AdminPort;
  /** One object for the process: the contracts cache the bar schema built from it. */
  readonly #barRules: BarRuleOptions;
  #sink: BarSink | undefined;
  #relay: OutboxRelay | undefined;
  #stopped: Promise<void> | undefined;

  constructor(options: StreamBridgeOptions) {
    this.#options = options;
    const { kafka } = options.config;
    this.topics = options.topics ?? {
      bars: topicName(kafka, 'market.bars.v1'),
      deadLetter: topicName(kafka, 'market.bars.v1.dlq'),
      ingestEvents: topicName(kafka, 'backbone.ingest-events.v1'),
    };
    this.groupId = options.groupId ?? streamBridgeGroupId(kafka);
    this.#admin = options.kafka.admin();
    this.#barRules = barRuleOptionsFromSettings(options.config.ingest);
  }

  /** Connects the admin client (readiness, lag) and registers the gauges. */
  async start(): Promise<void> {
    await this.#admin.connect();
    registerLagGauge({
      admin: this.#admin,
      pool: this.#options.pool,
      groupId: this.groupId,
      topics: [this.topics.bars],
      logger: this.#options.logger,
    });
  }

  /** Closes the admin client; the children are stopped by their supervisor before. Idempotent. */
  stop(): Promise<void> {
    this.#stopped ??= this.#admin.close();
    return this.#stopped;
  }

  /** The supervised children, started in this order, stopped in reverse. */
  get children(): ChildSpec[] {
    const deadlineMs = this.#options.config.workers.streamBridge.shutdownDeadlineMs;
    return [
      {
        name: 'sink',
        restart: 'permanent',
        shutdownDeadlineMs: deadlineMs,
        metadata: { topic: this.topics.bars, groupId: this.groupId, deadLetterTopic: this.topics.deadLetter },
        start: (signal) => this.#runSink(signal),
      },
      {
        name: 'outbox-relay',
        restart: 'permanent',
        shutdownDeadlineMs: deadlineMs,
        metadata: { channel: 'backbone_outbox' },
        start: (signal) => this.#runRelay(signal),
      },
    ];
  }

  /** The running sink (replaced on every restart), for health details and tests. */
  get sink(): BarSink | undefined {
    return this.#sink;
  }

  get relay(): OutboxRelay | undefined {
    return this.#relay;
  }

  /**
   * Ready only when PostgreSQL and Kafka both answer now, no partition of the sink is stalled
   * (records waiting, no stored progress for `readiness.stalledPartitionSeconds`), no outbox
   * event has waited past `readiness.outboxAgeSeconds.fail` (the relay is stuck: `outbox` names
   * the event's topic), no partition is held for an offset gap, and the sink's writes have not
   * been failing for `readiness.sinkFailingSeconds` (`problems` names each: topic, partition,
   * offsets; since when).
   */
  async readiness(): Promise<Readiness> {
    const timeoutMs = this.#options.probeTimeoutMs ?? 2_000;
    let stalled: StalledPartition[] = [];
    const [database, kafka, outbox, stall] = await Promise.all([
      probe(() => this.#options.pool.query('SELECT 1'), timeoutMs),
      probe(() => this.#admin.describeCluster(), timeoutMs),
      probe(() => this.#checkOutboxAge(), timeoutMs),
      probe(async () => {
        stalled = await stalledPartitions({
          admin: this.#admin,
          pool: this.#options.pool,
          groupId: this.groupId,
          topics: [this.topics.bars],
          stalledAfterMs: this.#options.config.readiness.stalledPartitionSeconds * 1000,
        });
      }, timeoutMs),
    ]);
    const sink = this.#sink?.stats();
    const problems = sink === undefined ? [] : sinkProblems(sink, this.#options.config.readiness, new Date());
    return {
      ready:
        database === 'ok' &&
        kafka === 'ok' &&
        outbox === 'ok' &&
        stall === 'ok' &&
        stalled.length === 0 &&
        problems.length === 0,
      details: {
        database,
        kafka,
        outbox,
        ...(problems.length === 0 ? {} : { problems }),
        stalledPartitions:
          stall === 'ok'
            ? stalled.map((partition) => ({
                group: partition.groupId,
                topic: partition.topic,
                partition: partition.partition,
                lag: Number(partition.lag),
                firstPendingOffset: Number(partition.firstPendingOffset),
                lastProgressAt: partition.lastProgressAt?.toISOString() ?? null,
              }))
            : stall,
        ...(sink === undefined ? {} : { sink: { ...sink, paused: sink.paused.length } }),
        ...(this.#relay === undefined ? {} : { relay: this.#relay.stats() }),
      },
    };
  }

  async #checkOutboxAge(): Promise<void> {
    const oldest = await oldestUnsentOutboxEvent(this.#options.pool);
    const failSeconds = this.#options.config.readiness.outboxAgeSeconds.fail;
    if (oldest === undefined || oldest.ageSeconds < failSeconds) return;
    throw new Error(
      `the oldest unsent outbox event (id ${oldest.id}, topic ${oldest.topic}) was written at ${oldest.createdAt.toISOString()}, ${Math.round(oldest.ageSeconds)} s ago, past readiness.outboxAgeSeconds.fail (${failSeconds} s)`,
    );
  }

  async #runSink(signal: AbortSignal): Promise<void> {
    const { config, pool, kafka, logger } = this.#options;
    const deadLetterLimit = config.kafka.topics['market.bars.v1.dlq'].configs['max.message.bytes'];
    const sink = new BarSink({
      kafka,
      pool,
      logger,
      groupId: this.groupId,
      topic: this.topics.bars,
      deadLetterTopic: this.topics.deadLetter,
      ingestEventsTopic: this.topics.ingestEvents,
      maxBatchRecords: config.kafka.consumer.maxBatchRecords,
      maxBatchBytes: config.kafka.consumer.maxBatchBytes,
      maxMessageBytes: config.kafka.maxMessageBytes,
      // Dead letters are truncated and their sends split to fit the DLQ topic's own limit when
      // it is configured; otherwise the sink's default (1 MiB, under the broker's default).
      ...(deadLetterLimit === undefined ? {} : { deadLetterMaxBytes: Number(deadLetterLimit) }),
      concurrency: config.workers.streamBridge.concurrency,
      offsetOutOfRange: config.kafka.consumer.offsetOutOfRange,
      // `ingest.maxFutureSkewSeconds` and `ingest.minBarTimestamp`: a bar outside that window is
      // dead-lettered (ts_in_future, ts_out_of_range), the same rules as the ingestor's.
      rules: this.#barRules,
      // Leave time to stop within the supervisor's deadline.
      stopGraceMs: Math.max(1, Math.floor(config.workers.streamBridge.shutdownDeadlineMs / 2)),
      ...(this.#options.sinkFaults === undefined ? {} : { faults: this.#options.sinkFaults }),
    });
    this.#sink = sink;
    try {
      await sink.start();
      // Runs until stopped, or until the consumer gives up (a rejection: the supervisor restarts it).
      await Promise.race([aborted(signal), sink.crashed]);
    } finally {
      await sink.stop();
    }
  }

  async #runRelay(signal: AbortSignal): Promise<void> {
    const { config, pool, kafka, logger } = this.#options;
    const relay = new OutboxRelay({
      kafka,
      pool,
      logger,
      listenConnection: { connectionString: config.database.url, application_name: 'stream-bridge-listen' },
      stopGraceMs: Math.max(1, Math.floor(config.workers.streamBridge.shutdownDeadlineMs / 2)),
    });
    if (this.#relay === undefined) relay.registerMetrics();
    this.#relay = relay;
    try {
      await relay.start();
      await aborted(signal);
    } finally {
      await relay.stop();
    }
  }
}

/**
 * Why the sink is not ready: each partition held for an offset gap, and writes failing for longer
 * than `sinkFailingSeconds` (a failure or two between successes is the sink's retry at work).
 */
function sinkProblems(
  sink: BarSinkStats,
  readiness: Pick<SystemConfig['readiness'], 'sinkFailingSeconds'>,
  now: Date,
): string[] {
  const problems = sink.offsetGaps.map(
    (gap) => `offset gap held: ${gap.message}; resolve it with ./backbone offsets resolve`,
  );
  if (sink.failingSince !== null) {
    const seconds = Math.floor((now.getTime() - sink.failingSince.getTime()) / 1000);
    if (seconds >= readiness.sinkFailingSeconds) {
      problems.push(
        `sink writes failing since ${sink.failingSince.toISOString()} (${seconds} s, ${sink.failedAttempts} failed attempts; threshold ${readiness.sinkFailingSeconds} s): ${sink.lastError ?? 'unknown error'}`,
      );
    }
  }
  return problems;
}

function aborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    signal.addEventListener(
      'abort',
      () => {
        resolve();
      },
      { once: true },
    );
  });
}

/** 'ok', or why not (redacted). */
async function probe(check: () => Promise<unknown>, timeoutMs: number): Promise<string> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await Promise.race([
      check(),
      new Promise((_, reject) => {
        timer = setTimeout(() => {
          reject(new Error(`no answer within ${timeoutMs} ms`));
        }, timeoutMs);
      }),
    ]);
    return 'ok';
  } catch (error) {
    return redactText(error instanceof Error ? error.message : String(error));
  } finally {
    clearTimeout(timer);
  }
}
