import { insertOutboxEvent, withTransaction } from '@backbone/db';
import { waitFor } from '@backbone/testing';
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

async function unpublished(topic: string): Promise<number> {
  const result = await db.pool.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM backbone.outbox WHERE topic = $1 AND published_at IS NULL',
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
      await kafka.admin.deleteTopics([topic]);
    }
  });
});
