import type { SystemConfig } from '@backbone/config';
import { createBarFeed, createKafkajsClient, type KafkaClient } from '@backbone/kafka';
import { Consumer, Producer, ProduceAcks } from '@platformatic/kafka';
import { uniqueBenchName } from './database.ts';
import { ratio, series, type Series } from './measure.ts';

export interface KafkaClientScenarioOptions {
  readonly config: SystemConfig;
  /** Messages produced and then consumed per client and repetition. */
  readonly messages: number;
  readonly repetitions: number;
}

export interface KafkaClientScenarioResult {
  readonly messages: number;
  readonly partitions: number;
  readonly messageBytes: number;
  readonly batchSize: number;
  /** kafkajs through our port (`createKafkajsClient`): what the workers use today. */
  readonly kafkajsProduce: Series;
  readonly kafkajsConsume: Series;
  /** `@platformatic/kafka` used directly with the same settings. */
  readonly platformaticProduce: Series;
  readonly platformaticConsume: Series;
  /** platformatic / kafkajs, medians of this run. */
  readonly produceRatio: number;
  readonly consumeRatio: number;
}

/** Bars per produce request: the feed's default batch (libs/kafka publishFeed). */
const BATCH_SIZE = 2_000;
/** Fetch settings both consumers get (kafkajs's defaults, and our port's fetch wait). */
const FETCH = { maxBytesPerPartition: 1_048_576, maxBytes: 10_485_760, maxWaitMs: 250 } as const;

interface ClientRun {
  /** Messages/s from the first send to the last acknowledgement (one request in flight). */
  readonly produce: number;
  /**
   * Messages/s after the first delivery (one kafkajs batch, one platformatic message) to the last:
   * the group join and the first fetch's round trip are not counted, for either client.
   */
  readonly consume: number;
}

type Message = { readonly key: string; readonly value: string };

/**
 * Scenario 6: the same workload through kafkajs (our port's adapter) and `@platformatic/kafka`:
 * N bar-sized records keyed by symbol, produced in requests of 2,000 with acks=all and an
 * idempotent producer, one request in flight (as the feed and the sink's dead-letter path do), to
 * a topic with `market.bars.v1`'s partition count; then read back by a fresh consumer group from
 * the earliest offset. Each repetition alternates which client goes first, on topics of its own.
 */
export async function runKafkaClientScenario(
  options: KafkaClientScenarioOptions,
): Promise<KafkaClientScenarioResult> {
  const { config } = options;
  const partitions = config.kafka.topics['market.bars.v1'].partitions;
  const feed = createBarFeed({
    symbols: Array.from({ length: 20 }, (_, i) => `KC${String(i).padStart(2, '0')}`),
    timeframe: '1m',
    seed: 6,
    start: new Date('2026-01-05T00:00:00Z'),
  });
  const messages: Message[] = Array.from({ length: options.messages }, () => {
    const bar = feed.next();
    return { key: bar.symbol, value: JSON.stringify(bar) };
  });
  const kafka = createKafkajsClient({
    ...config.kafka,
    clientId: 'backbone-bench-kafkajs',
    logLevel: 'error',
  });
  const admin = kafka.admin();
  await admin.connect();
  const topics: string[] = [];
  const newTopic = async (): Promise<string> => {
    const name = uniqueBenchName('bench_client');
    topics.push(name);
    await admin.createTopics([{ name, partitions, replicationFactor: 1, configs: {} }]);
    return name;
  };
  const runs = { kafkajs: [] as ClientRun[], platformatic: [] as ClientRun[] };
  try {
    for (let i = 0; i < options.repetitions; i++) {
      const order =
        i % 2 === 0 ? (['kafkajs', 'platformatic'] as const) : (['platformatic', 'kafkajs'] as const);
      for (const client of order) {
        const topic = await newTopic();
        runs[client].push(
          client === 'kafkajs'
            ? await kafkajsRun(kafka, topic, messages)
            : await platformaticRun(config.kafka.brokers, topic, messages),
        );
      }
    }
  } finally {
    await admin.deleteTopics(topics).catch(() => undefined);
    await admin.close();
  }
  const kafkajsProduce = series(runs.kafkajs.map((run) => run.produce));
  const kafkajsConsume = series(runs.kafkajs.map((run) => run.consume));
  const platformaticProduce = series(runs.platformatic.map((run) => run.produce));
  const platformaticConsume = series(runs.platformatic.map((run) => run.consume));
  return {
    messages: options.messages,
    partitions,
    messageBytes: Math.round(
      messages.reduce((sum, message) => sum + Buffer.byteLength(message.value), 0) / messages.length,
    ),
    batchSize: BATCH_SIZE,
    kafkajsProduce,
    kafkajsConsume,
    platformaticProduce,
    platformaticConsume,
    produceRatio: ratio(platformaticProduce, kafkajsProduce),
    consumeRatio: ratio(platformaticConsume, kafkajsConsume),
  };
}

async function kafkajsRun(
  kafka: KafkaClient,
  topic: string,
  messages: readonly Message[],
): Promise<ClientRun> {
  const producer = kafka.producer();
  await producer.connect();
  let produce: number;
  try {
    const started = performance.now();
    for (let from = 0; from < messages.length; from += BATCH_SIZE) {
      await producer.send(topic, messages.slice(from, from + BATCH_SIZE));
    }
    produce = messages.length / ((performance.now() - started) / 1000);
  } finally {
    await producer.close();
  }

  const consumer = kafka.consumer({
    groupId: uniqueBenchName('bench_client_group'),
    maxBytesPerPartition: FETCH.maxBytesPerPartition,
    maxBytes: FETCH.maxBytes,
  });
  await consumer.connect();
  try {
    await consumer.subscribe([topic], { fromBeginning: true });
    const counted = countUntil(messages.length);
    await consumer.run({
      eachBatch: (batch) => {
        counted.add(batch.messages.length);
        const last = batch.messages.at(-1);
        if (last !== undefined) batch.resolveOffset(last.offset);
        return Promise.resolve();
      },
    });
    return { produce, consume: await counted.rate };
  } finally {
    await consumer.close();
  }
}

async function platformaticRun(
  brokers: readonly string[],
  topic: string,
  messages: readonly Message[],
): Promise<ClientRun> {
  const base = { clientId: 'backbone-bench-platformatic', bootstrapBrokers: [...brokers] };
  const producer = new Producer({ ...base, idempotent: true, acks: ProduceAcks.ALL });
  let produce: number;
  try {
    const started = performance.now();
    for (let from = 0; from < messages.length; from += BATCH_SIZE) {
      await producer.send({
        messages: messages.slice(from, from + BATCH_SIZE).map(({ key, value }) => ({
          topic,
          key: Buffer.from(key),
          value: Buffer.from(value),
        })),
      });
    }
    produce = messages.length / ((performance.now() - started) / 1000);
  } finally {
    await producer.close();
  }

  const consumer = new Consumer({
    ...base,
    groupId: uniqueBenchName('bench_client_group'),
    maxBytesPerPartition: FETCH.maxBytesPerPartition,
    maxBytes: FETCH.maxBytes,
    maxWaitTime: FETCH.maxWaitMs,
  });
  try {
    const stream = await consumer.consume({ topics: [topic], mode: 'earliest', autocommit: false });
    const counted = countUntil(messages.length);
    stream.on('data', () => {
      counted.add(1);
    });
    const rate = await counted.rate;
    await stream.close();
    return { produce, consume: rate };
  } finally {
    await consumer.close(true);
  }
}

/**
 * Counts received messages; `rate` resolves, once `total` arrived, with the messages after the
 * first delivery divided by the time from that delivery to the last.
 */
function countUntil(total: number): { add(count: number): void; readonly rate: Promise<number> } {
  const done = Promise.withResolvers<number>();
  let received = 0;
  let first: { at: number; count: number } | undefined;
  return {
    add(count) {
      const now = performance.now();
      first ??= { at: now, count };
      received += count;
      if (received >= total) {
        done.resolve((total - first.count) / Math.max((now - first.at) / 1000, 1e-3));
      }
    },
    rate: done.promise,
  };
}
