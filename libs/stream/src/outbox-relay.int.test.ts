import { insertOutboxEvent, withTransaction } from '@backbone/db';
import { uniqueName, waitFor } from '@backbone/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OUTBOX_ID_HEADER, OutboxRelay } from './outbox-relay.ts';
import {
  createMigratedDatabase,
  createTestKafka,
  testLogger,
  type TestDatabase,
  type TestKafka,
} from './test-support/stack.ts';
import { readTopic, recordCount } from './test-support/topics.ts';

let db: TestDatabase;
let kafka: TestKafka;
const relays: OutboxRelay[] = [];

beforeAll(async () => {
  [db, kafka] = await Promise.all([createMigratedDatabase('stream_relay'), createTestKafka()]);
});

afterAll(async () => {
  await Promise.allSettled(relays.map((relay) => relay.stop()));
  if (smallTopics.length > 0) await kafka.admin.deleteTopics(smallTopics).catch(() => undefined);
  await kafka.dispose();
  await db.drop();
});

function relay(options: { pollIntervalMs?: number; batchSize?: number } = {}): OutboxRelay {
  const instance = new OutboxRelay({
    kafka: kafka.client,
    pool: db.pool,
    listenConnection: { connectionString: db.url },
    logger: testLogger('relay-test'),
    retryBackoff: { initialMs: 50, maxMs: 1_000 },
    stopGraceMs: 1_000,
    ...options,
  });
  relays.push(instance);
  return instance;
}

/** A topic whose broker-side record limit is 1 KiB: larger events are refused with MESSAGE_TOO_LARGE. */
async function smallRecordTopic(prefix: string): Promise<string> {
  const name = uniqueName(prefix);
  await kafka.admin.createTopics([
    { name, partitions: 1, replicationFactor: 1, configs: { 'max.message.bytes': '1024' } },
  ]);
  smallTopics.push(name);
  return name;
}
const smallTopics: string[] = [];

async function unpublished(topic: string): Promise<number> {
  const result = await db.pool.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM backbone.outbox WHERE topic = $1 AND published_at IS NULL AND dead_at IS NULL',
    [topic],
  );
  return result.rows[0]?.n ?? -1;
}

describe('OutboxRelay', () => {
  it('publishes a committed row within milliseconds, woken by NOTIFY rather than the poll', async () => {
    const topic = await kafka.topic('events');
    // A poll far longer than the test: only the notification can wake the relay in time.
    const instance = relay({ pollIntervalMs: 600_000 });
    await instance.start();
    await waitFor(async () => (await instance.oldestUnpublishedAgeSeconds()) === 0, {
      description: 'the relay drained what was already there',
    });

    const id = await withTransaction(db.pool, (client) =>
      insertOutboxEvent(client, { topic, key: 'run-1', payload: { hello: 'world' }, headers: { a: 'b' } }),
    );
    const committedAt = performance.now();
    const published = await waitFor(
      async () =>
        (
          await db.pool.query<{ published_at: Date | null }>(
            'SELECT published_at FROM backbone.outbox WHERE id = $1 AND published_at IS NOT NULL',
            [id],
          )
        ).rows[0],
      { timeoutMs: 5_000, intervalMs: 2, description: 'the row marked published' },
    );
    console.info(
      `outbox relay: commit -> marked published in ${Math.round(performance.now() - committedAt)} ms`,
    );
    expect(published.published_at).toBeInstanceOf(Date);
    expect(instance.stats().notifications).toBeGreaterThan(0);

    const [message] = await readTopic(kafka.client, topic, 1);
    expect(message?.key?.toString()).toBe('run-1');
    expect(JSON.parse(message?.value?.toString() ?? '')).toEqual({ hello: 'world' });
    expect(message?.headers).toMatchObject({ a: 'b', [OUTBOX_ID_HEADER]: id });

    // Once the topic's metadata is known, the next event shows the steady-state delay.
    const secondId = await withTransaction(db.pool, (client) =>
      insertOutboxEvent(client, { topic, key: 'run-2', payload: { hello: 'again' } }),
    );
    const secondCommittedAt = performance.now();
    await waitFor(
      async () =>
        (
          await db.pool.query('SELECT 1 FROM backbone.outbox WHERE id = $1 AND published_at IS NOT NULL', [
            secondId,
          ])
        ).rowCount === 1,
      { timeoutMs: 5_000, intervalMs: 2, description: 'the second row marked published' },
    );
    console.info(
      `outbox relay: second event, commit -> marked published in ${Math.round(performance.now() - secondCommittedAt)} ms`,
    );
    await instance.stop();
  });

  it('never publishes a row twice with two relays draining concurrently', async () => {
    const topic = await kafka.topic('events', 3);
    const [first, second] = [relay({ batchSize: 20 }), relay({ batchSize: 20 })];
    await Promise.all([first.start(), second.start()]);
    const rows = 600;
    // 30 concurrent writers, 20 rows per transaction: both relays are woken over and over.
    await Promise.all(
      Array.from({ length: 30 }, (_, writer) =>
        withTransaction(db.pool, async (client) => {
          for (let i = 0; i < 20; i += 1) {
            await insertOutboxEvent(client, { topic, key: `k${writer}-${i}`, payload: { writer, i } });
          }
        }),
      ),
    );
    await waitFor(async () => (await unpublished(topic)) === 0, {
      timeoutMs: 30_000,
      description: 'every row published',
    });
    const messages = await readTopic(kafka.client, topic, rows);
    const ids = messages.map((message) => message.headers[OUTBOX_ID_HEADER]);
    expect(new Set(ids).size).toBe(rows);
    expect(await recordCount(kafka.admin, topic)).toBe(rows);
    // Both instances took part.
    expect(first.stats().published).toBeGreaterThan(0);
    expect(second.stats().published).toBeGreaterThan(0);
    expect(first.stats().published + second.stats().published).toBe(rows);
    await Promise.all([first.stop(), second.stop()]);
  });

  it('keeps rows while their topic cannot take them, and publishes them once it can', async () => {
    const topic = `${await kafka.topic('events')}_later`;
    const instance = relay({ pollIntervalMs: 200 });
    await instance.start();
    await withTransaction(db.pool, async (client) => {
      for (let i = 0; i < 5; i += 1) await insertOutboxEvent(client, { topic, key: `k${i}`, payload: { i } });
    });
    // The topic does not exist (no auto-creation): the send cannot succeed, the rows wait.
    await waitFor(async () => (await instance.oldestUnpublishedAgeSeconds()) > 1, {
      timeoutMs: 10_000,
      description: 'the unpublished rows to age',
    });
    expect(await unpublished(topic)).toBe(5);

    await kafka.admin.createTopics([{ name: topic, partitions: 1, replicationFactor: 1, configs: {} }]);
    try {
      await waitFor(async () => (await unpublished(topic)) === 0, {
        timeoutMs: 60_000,
        description: 'the waiting rows published',
      });
      const messages = await readTopic(kafka.client, topic, 5);
      expect(messages.map((message) => message.key?.toString())).toEqual(['k0', 'k1', 'k2', 'k3', 'k4']);
    } finally {
      // Stopped first: a producer that targeted a deleted topic fails its later sends to any
      // topic while kafkajs refreshes that topic's metadata, and it would claim later tests' rows.
      await instance.stop();
      await kafka.admin.deleteTopics([topic]);
    }
  });

  it('finding 1.4: an event Kafka refuses for good in front of good ones is marked dead with the reason; the good ones are published', async () => {
    const small = await smallRecordTopic('relay_small');
    const roomy = await kafka.topic('relay_roomy');
    // One batch holding both topics: the broker appends the roomy topic's records and refuses the
    // small topic's partition, so kafkajs fails the whole request.
    const ids = await withTransaction(db.pool, async (client) => [
      await insertOutboxEvent(client, { topic: roomy, key: 'r0', payload: { n: 0 } }),
      await insertOutboxEvent(client, { topic: small, key: 'big', payload: { blob: 'x'.repeat(4_000) } }),
      await insertOutboxEvent(client, { topic: small, key: 's1', payload: { n: 1 } }),
      await insertOutboxEvent(client, { topic: small, key: 's2', payload: { n: 2 } }),
      await insertOutboxEvent(client, { topic: roomy, key: 'r1', payload: { n: 1 } }),
    ]);
    const instance = relay({ pollIntervalMs: 200 });
    await instance.start();
    await waitFor(async () => (await unpublished(small)) + (await unpublished(roomy)) === 0, {
      timeoutMs: 30_000,
      description: 'every event published or dead',
    });

    const rows = await db.pool.query<{ id: string; published: boolean; dead_reason: string | null }>(
      `SELECT id::text AS id, published_at IS NOT NULL AS published, dead_reason
       FROM backbone.outbox WHERE id = ANY($1::bigint[]) ORDER BY id`,
      [ids],
    );
    expect(rows.rows.map((row) => row.published)).toEqual([true, false, true, true, true]);
    expect(rows.rows[1]?.dead_reason).toMatch(/larger than the max message size/);
    expect(rows.rows[1]?.dead_reason).toContain(small);
    expect(instance.stats().dead).toBe(1);

    const smallMessages = await readTopic(kafka.client, small, 2);
    expect(smallMessages.map((message) => message.key?.toString())).toEqual(['s1', 's2']);
    // The roomy topic may hold r0 twice (appended by the refused request, then sent again).
    const roomyMessages = await readTopic(kafka.client, roomy, 2);
    expect(new Set(roomyMessages.map((message) => message.key?.toString()))).toEqual(new Set(['r0', 'r1']));
    expect(roomyMessages.at(-1)?.key?.toString()).toBe('r1');
    // Dead events do not count as waiting.
    expect(await instance.oldestUnpublishedAgeSeconds()).toBe(0);
    await instance.stop();
  });

  it('finding 1.4: publishes in numeric id order, 999999 before 1000000', async () => {
    const topic = await kafka.topic('relay_order');
    // Ids from 999,996 on: their text forms sort 1000000.. before 999996.. (the old order).
    await db.pool.query(`SELECT setval('backbone.outbox_id_seq', 999995)`);
    await withTransaction(db.pool, async (client) => {
      for (let i = 0; i < 10; i += 1) await insertOutboxEvent(client, { topic, key: 'same', payload: { i } });
    });
    const instance = relay();
    await instance.start();
    await waitFor(async () => (await unpublished(topic)) === 0, { description: 'the ten events published' });
    const messages = await readTopic(kafka.client, topic, 10);
    expect(
      messages.map((message) => (JSON.parse(message.value?.toString() ?? '') as { i: number }).i),
    ).toEqual(Array.from({ length: 10 }, (_, i) => i));
    await instance.stop();
  });
});
