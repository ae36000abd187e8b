import { freePort, testEndpoints, uniqueName, waitFor } from '@backbone/testing';
import { Kafka, logLevel, type Producer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KafkaClientError } from '../kafka-client-error.ts';
import type { ConsumedMessage, TopicPartitions } from '../port.ts';
import { collect, createKafkaFixture, type KafkaFixture } from '../test-support/kafka-fixture.ts';
import { silentKafkaLogger } from '../logger.ts';
import { createKafkajsClient, KafkajsProducer, producerBreakage } from './adapter.ts';

let kafka: KafkaFixture;
beforeAll(async () => {
  kafka = await createKafkaFixture();
});
afterAll(async () => {
  await kafka.dispose();
});

describe('kafkajs adapter', () => {
  it('round-trips keys, values and headers, keeping one key on one partition', async () => {
    const topic = await kafka.topic('roundtrip', 3);
    const sent = Array.from({ length: 30 }, (_, i) => ({
      key: `SYM${i % 4}`,
      value: JSON.stringify({ i }),
      headers: { 'x-index': String(i), 'x-origin': 'test' },
    }));
    const acks = await kafka.producer.send(topic, sent);
    expect(acks.length).toBeGreaterThan(0);
    expect(acks.every((ack) => ack.topic === topic && ack.baseOffset >= 0n)).toBe(true);

    const consumed = await collect(kafka.consumer(uniqueName('g')), [topic]);
    await waitFor(() => consumed.messages.length >= 30, { timeoutMs: 20_000, description: '30 messages' });
    expect(consumed.messages).toHaveLength(30);
    const indexOf = (m: ConsumedMessage) => (JSON.parse(m.value?.toString() ?? '{}') as { i: number }).i;
    const byIndex = new Map(consumed.messages.map((m) => [indexOf(m), m]));
    for (const [i, message] of sent.entries()) {
      const got = byIndex.get(i);
      expect(got?.key?.toString()).toBe(message.key);
      expect(got?.headers).toEqual(message.headers);
      expect(typeof got?.offset).toBe('bigint');
      expect(got?.timestamp).toBeGreaterThan(Date.parse('2020-01-01'));
    }
    const partitionsByKey = new Map<string, Set<number>>();
    for (const m of consumed.messages) {
      const key = m.key?.toString() ?? '';
      partitionsByKey.set(key, (partitionsByKey.get(key) ?? new Set()).add(m.partition));
    }
    for (const partitions of partitionsByKey.values()) expect(partitions.size).toBe(1);
  });

  it('seeks to the positions the assignment hook returns before reading anything', async () => {
    const topic = await kafka.topic('seek', 1);
    await kafka.producer.send(
      topic,
      Array.from({ length: 10 }, (_, i) => ({ key: 'K', value: String(i) })),
    );
    const consumed = await collect(
      kafka.consumer(uniqueName('g')),
      [topic],
      [{ topic, partition: 0, offset: 6n }],
    );
    await waitFor(() => consumed.messages.length >= 4, { timeoutMs: 20_000, description: 'offsets 6..9' });
    expect(consumed.messages.map((m) => m.offset)).toEqual([6n, 7n, 8n, 9n]);
  });

  it('keeps the partitions the assignment hook holds paused, reading the others, until resumed', async () => {
    const topic = await kafka.topic('hold', 2);
    await kafka.producer.send(topic, [
      ...Array.from({ length: 3 }, (_, i) => ({ key: null, value: `p0-${i}`, partition: 0 })),
      ...Array.from({ length: 3 }, (_, i) => ({ key: null, value: `p1-${i}`, partition: 1 })),
    ]);
    const consumer = kafka.consumer(uniqueName('g'));
    const consumed = await collect(consumer, [topic], {
      positions: [{ topic, partition: 1, offset: 1n }],
      hold: [{ topic, partition: 0 }],
    });
    const onPartition = (partition: number) => consumed.messages.filter((m) => m.partition === partition);
    await waitFor(() => onPartition(1).length >= 2, { timeoutMs: 20_000, description: 'partition 1' });
    // One more round trip on partition 1: the fetches that read it skipped held partition 0.
    await kafka.producer.send(topic, [{ key: null, value: 'p1-marker', partition: 1 }]);
    await waitFor(() => onPartition(1).length >= 3, { timeoutMs: 20_000, description: 'the marker' });
    expect(onPartition(1).map((m) => m.offset)).toEqual([1n, 2n, 3n]);
    expect(onPartition(0)).toHaveLength(0);
    expect(consumer.paused()).toEqual([{ topic, partitions: [0] }]);

    consumer.resume([{ topic, partitions: [0] }]);
    await waitFor(() => onPartition(0).length >= 3, { timeoutMs: 20_000, description: 'partition 0' });
    expect(onPartition(0).map((m) => m.value?.toString())).toEqual(['p0-0', 'p0-1', 'p0-2']);
  });

  it('pauses and resumes single partitions', async () => {
    const topic = await kafka.topic('pause', 2);
    const consumer = kafka.consumer(uniqueName('g'));
    const consumed = await collect(consumer, [topic]);
    const onPartition = (partition: number) => consumed.messages.filter((m) => m.partition === partition);
    const paused: TopicPartitions[] = [{ topic, partitions: [0] }];

    consumer.pause(paused);
    expect(consumer.paused()).toEqual(paused);
    await kafka.producer.send(topic, [
      ...Array.from({ length: 5 }, (_, i) => ({ key: null, value: `p0-${i}`, partition: 0 })),
      ...Array.from({ length: 5 }, (_, i) => ({ key: null, value: `p1-${i}`, partition: 1 })),
    ]);
    await waitFor(() => onPartition(1).length >= 5, { timeoutMs: 20_000, description: 'partition 1' });
    // One more round trip on partition 1: the fetches that read it skipped paused partition 0.
    await kafka.producer.send(topic, [{ key: null, value: 'p1-marker', partition: 1 }]);
    await waitFor(() => onPartition(1).length >= 6, { timeoutMs: 20_000, description: 'the marker' });
    expect(onPartition(0)).toHaveLength(0);

    consumer.resume(paused);
    await waitFor(() => onPartition(0).length >= 5, {
      timeoutMs: 20_000,
      description: 'partition 0 after resume',
    });
    expect(onPartition(0).map((m: ConsumedMessage) => m.value?.toString())).toEqual(
      Array.from({ length: 5 }, (_, i) => `p0-${i}`),
    );
    expect(consumer.paused()).toEqual([]);
  });

  it('closes consumers and producers idempotently', async () => {
    const consumer = kafka.consumer(uniqueName('g'));
    await consumer.connect();
    await Promise.all([consumer.close(), consumer.close()]);
    await consumer.close();
    const producer = kafka.client.producer();
    await producer.connect();
    await Promise.all([producer.close(), producer.close()]);
  });

  it('refuses an oversized record before it reaches the broker, naming the limit', async () => {
    const topic = await kafka.topic('oversize', 1);
    const producer = kafka.client.producer({ maxMessageBytes: 100 });
    await producer.connect();
    try {
      const failure = producer.send(topic, [{ key: 'K', value: 'x'.repeat(200) }]);
      await expect(failure).rejects.toBeInstanceOf(KafkaClientError);
      await expect(failure).rejects.toMatchObject({ retriable: false, operation: 'producer.send', topic });
      await expect(failure).rejects.toThrow(/exceeds the 100-byte limit/);
      // The same verdict as the broker's own refusal, so the outbox relay sets the record aside.
      const refusal: unknown = await failure.catch((error: unknown) => error);
      expect(refusal).toMatchObject({ code: 'MESSAGE_TOO_LARGE' });
      expect((refusal as KafkaClientError).refusesRecords).toBe(true);
    } finally {
      await producer.close();
    }
  });

  // What a caller re-sends on (publishFeed's `resend`) depends on this: a broker that is away
  // may come back; a topic still unknown after kafkajs's own retries does not exist.
  it('classifies a broker that is away as retriable and a missing topic as not, after kafkajs gives up', async () => {
    const absent = createKafkajsClient({
      brokers: [`127.0.0.1:${await freePort()}`],
      clientId: uniqueName('absent'),
      logLevel: 'error',
    }).producer();
    const producer = kafka.client.producer();
    await producer.connect();
    const missingTopic = uniqueName('missing');
    try {
      const [unreachable, unknownTopic] = await Promise.all([
        absent.connect().then(
          () => undefined,
          (error: unknown) => error,
        ),
        producer.send(missingTopic, [{ key: 'K', value: 'v' }]).then(
          () => undefined,
          (error: unknown) => error,
        ),
      ]);
      expect(unreachable).toBeInstanceOf(KafkaClientError);
      expect(unreachable).toMatchObject({ operation: 'producer.connect', retriable: true });
      expect(unknownTopic).toBeInstanceOf(KafkaClientError);
      expect(unknownTopic).toMatchObject({
        operation: 'producer.send',
        topic: missingTopic,
        retriable: false,
      });
      expect(String(unknownTopic)).toMatch(/does not host this topic-partition/);
      // Not a refusal of the records: the topic may be created later (topics ensure).
      expect((unknownTopic as KafkaClientError).refusesRecords).toBe(false);
    } finally {
      await Promise.all([producer.close(), absent.close()]);
    }
  });

  it('describes the cluster and partition metadata', async () => {
    const topic = await kafka.topic('meta', 2);
    const cluster = await kafka.admin.describeCluster();
    expect(cluster.brokers.length).toBeGreaterThan(0);
    expect(cluster.brokers.map((b) => b.nodeId)).toContain(cluster.controller);
    const [metadata] = await kafka.admin.fetchTopicMetadata([topic]);
    expect(metadata?.partitions.map((p) => p.partition)).toEqual([0, 1]);
    for (const partition of metadata?.partitions ?? []) {
      expect(partition.replicas).toContain(partition.leader);
      expect(partition.isr).toContain(partition.leader);
      expect(partition.offlineReplicas).toEqual([]);
    }
    expect(await kafka.admin.listTopics()).toContain(topic);
  });

  it('finding 4.4: a producer disconnected for good under the port is replaced, and the records of the send that found it broken are stored once', async () => {
    const topic = await kafka.topic('renew', 3);
    const made: Producer[] = [];
    const raw = new Kafka({
      brokers: testEndpoints().kafkaBrokers,
      clientId: uniqueName('renew'),
      logLevel: logLevel.NOTHING,
    });
    const producer = new KafkajsProducer(raw, {}, silentKafkaLogger, (created) => made.push(created));
    await producer.connect();
    const records = (from: number, count: number) =>
      Array.from({ length: count }, (_, i) => ({ key: `SYM${(from + i) % 5}`, value: String(from + i) }));
    try {
      await producer.send(topic, records(0, 10));
      // What a connection torn down for good looks like to kafkajs: every later send is refused
      // with "The producer is disconnected", before anything reaches the broker.
      const [first] = made;
      await first?.disconnect();
      await producer.send(topic, records(10, 10));
      await producer.send(topic, records(20, 5));
      expect(made).toHaveLength(2);
    } finally {
      await producer.close();
    }
    const consumed = await collect(kafka.consumer(uniqueName('g')), [topic]);
    await waitFor(() => consumed.messages.length >= 25, { timeoutMs: 20_000, description: '25 messages' });
    // The log's end offsets say the same: nothing beyond the 25 records was appended.
    const ends = await kafka.admin.fetchTopicOffsets(topic);
    expect(ends.reduce((sum, p) => sum + Number(p.high), 0)).toBe(25);
    const values = consumed.messages.map((m) => Number(m.value?.toString())).sort((a, b) => a - b);
    expect(values).toEqual(Array.from({ length: 25 }, (_, i) => i));
  });

  it('finding 4.4: tells a broken producer (disconnected, fenced by a sequence or epoch error) from a failure its own retries cover', () => {
    const protocolError = (type: string) => Object.assign(new Error(`broker said ${type}`), { type });
    // kafkajs wraps a non-retriable protocol error as the cause of a KafkaJSNonRetriableError.
    const wrapped = (cause: Error) =>
      Object.assign(new Error(cause.message, { cause }), { name: 'KafkaJSNonRetriableError' });
    expect(producerBreakage(new Error('The producer is disconnected'))).toBe('disconnected');
    expect(producerBreakage(wrapped(protocolError('OUT_OF_ORDER_SEQUENCE_NUMBER')))).toBe('fenced');
    expect(producerBreakage(wrapped(protocolError('UNKNOWN_PRODUCER_ID')))).toBe('fenced');
    expect(producerBreakage(wrapped(protocolError('INVALID_PRODUCER_EPOCH')))).toBe('fenced');
    expect(producerBreakage(wrapped(protocolError('REQUEST_TIMED_OUT')))).toBeUndefined();
    expect(producerBreakage(new Error('Connection error: ECONNREFUSED'))).toBeUndefined();
  });
});
