import { uniqueName, waitFor } from '@backbone/testing';
import { inject } from 'vitest';
import { createKafkajsClient } from '../kafkajs/adapter.ts';
import type {
  AdminPort,
  AssignmentDecision,
  ConsumedMessage,
  ConsumerPort,
  KafkaClient,
  ProducerPort,
  TopicPartitionOffset,
} from '../port.ts';

/**
 * One Kafka client per test file against the real local broker. Every topic a test makes goes
 * through `topic()` and is deleted at `dispose()`; topics the tests did not create are never touched.
 */
export interface KafkaFixture {
  readonly client: KafkaClient;
  readonly admin: AdminPort;
  readonly producer: ProducerPort;
  /** Creates a uniquely named topic and remembers it for deletion. */
  topic(prefix: string, partitions?: number): Promise<string>;
  /** Remembers a topic created by the code under test, for deletion. */
  track(topic: string): string;
  /** A consumer closed at dispose (closing twice is fine). */
  consumer(groupId: string): ConsumerPort;
  dispose(): Promise<void>;
}

/**
 * The brokers the global setup found. The `ProvidedContext` augmentation lives in the testing lib's
 * global setup, which this project's compilation does not see through `@backbone/testing`.
 */
function kafkaBrokers(): string[] {
  return (inject as unknown as (key: 'endpoints') => { kafkaBrokers: string[] })('endpoints').kafkaBrokers;
}

export async function createKafkaFixture(): Promise<KafkaFixture> {
  const client = createKafkajsClient({
    brokers: kafkaBrokers(),
    clientId: uniqueName('kafka_test'),
    logLevel: 'warn',
  });
  const admin = client.admin();
  const producer = client.producer();
  await admin.connect();
  await producer.connect();
  const topics = new Set<string>();
  const consumers: ConsumerPort[] = [];
  return {
    client,
    admin,
    producer,
    async topic(prefix, partitions = 1) {
      const name = uniqueName(prefix);
      topics.add(name);
      await admin.createTopics([{ name, partitions, replicationFactor: 1, configs: {} }]);
      return name;
    },
    track(topic) {
      topics.add(topic);
      return topic;
    },
    consumer(groupId) {
      const consumer = client.consumer({ groupId, sessionTimeoutMs: 10_000 });
      consumers.push(consumer);
      return consumer;
    },
    async dispose() {
      await Promise.allSettled(consumers.map((consumer) => consumer.close()));
      const existing = new Set(await admin.listTopics());
      const mine = [...topics].filter((topic) => existing.has(topic));
      if (mine.length > 0) await admin.deleteTopics(mine);
      await producer.close();
      await admin.close();
    },
  };
}

/**
 * Starts `consumer` on `topics` and collects every message; `positions` (or an assignment
 * decision with partitions to hold) are returned by the assignment hook.
 * Resolves once the group has assigned partitions.
 */
export async function collect(
  consumer: ConsumerPort,
  topics: readonly string[],
  positions: readonly TopicPartitionOffset[] | AssignmentDecision = [],
): Promise<{ messages: ConsumedMessage[]; assignments: number }> {
  const state = { messages: [] as ConsumedMessage[], assignments: 0 };
  await consumer.connect();
  await consumer.subscribe(topics, { fromBeginning: true });
  await consumer.run({
    onPartitionsAssigned: () => {
      state.assignments += 1;
      return Promise.resolve(positions);
    },
    eachBatch: async (batch) => {
      state.messages.push(...batch.messages);
      const last = batch.messages.at(-1);
      if (last !== undefined) batch.resolveOffset(last.offset);
      await batch.heartbeat();
    },
  });
  await waitFor(() => state.assignments > 0, { timeoutMs: 20_000, description: 'a partition assignment' });
  return state;
}
