import { uniqueName, waitFor } from '@backbone/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { consumerLag } from './lag.ts';
import { collect, createKafkaFixture, type KafkaFixture } from './test-support/kafka-fixture.ts';

let kafka: KafkaFixture;
beforeAll(async () => {
  kafka = await createKafkaFixture();
});
afterAll(async () => {
  await kafka.dispose();
});

describe('consumerLag', () => {
  it('is log end minus next offset, from the caller first, then the group, then the whole log', async () => {
    const topic = await kafka.topic('lag', 3);
    const produce = (partition: number, count: number) =>
      Array.from({ length: count }, (_, i) => ({ key: null, value: String(i), partition }));
    await kafka.producer.send(topic, [...produce(0, 7), ...produce(1, 4), ...produce(2, 2)]);

    const groupId = uniqueName('lag_group');
    const consumer = kafka.consumer(groupId);
    const consumed = await collect(consumer, [topic]);
    await waitFor(() => consumed.messages.length >= 13, { timeoutMs: 20_000, description: '13 messages' });
    // The group commits 3 of partition 0 and all of partition 1; nothing for partition 2.
    await consumer.commitOffsets([
      { topic, partition: 0, offset: 3n },
      { topic, partition: 1, offset: 4n },
    ]);
    await consumer.close();

    const fromKafka = await consumerLag({ admin: kafka.admin, groupId, topics: [topic] });
    expect(fromKafka).toEqual([
      { groupId, topic, partition: 0, logEndOffset: 7n, nextOffset: 3n, lag: 4n, source: 'kafka' },
      { groupId, topic, partition: 1, logEndOffset: 4n, nextOffset: 4n, lag: 0n, source: 'kafka' },
      { groupId, topic, partition: 2, logEndOffset: 2n, nextOffset: null, lag: 2n, source: 'none' },
    ]);

    // The caller's store (the database) is the whole truth: Kafka's offset of partition 1 does
    // not count, the sink reads a partition without a row from the start.
    const fromCaller = await consumerLag({
      admin: kafka.admin,
      groupId,
      topics: [topic],
      committedOffsets: [
        { topic, partition: 0, offset: 6n },
        { topic, partition: 2, offset: 1n },
      ],
    });
    expect(fromCaller.map((l) => [l.partition, l.nextOffset, l.lag, l.source])).toEqual([
      [0, 6n, 1n, 'caller'],
      [1, null, 4n, 'none'],
      [2, 1n, 1n, 'caller'],
    ]);
  });
});
