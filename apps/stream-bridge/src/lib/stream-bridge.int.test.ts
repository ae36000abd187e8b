import { systemConfigSchema, topicName } from '@backbone/config';
import { DEAD_LETTER_HEADERS, deadLetterEnvelopeSchema, ingestRunEventSchema } from '@backbone/contracts';
import { createPool, migrate } from '@backbone/db';
import {
  createKafkajsClient,
  ensureTopics,
  topicSpecsFromConfig,
  type ConsumedMessage,
} from '@backbone/kafka';
import { Supervisor } from '@backbone/supervisor';
import { createLogger } from '@backbone/telemetry';
import {
  createTestDatabase,
  testEndpoints,
  uniqueName,
  utcMidnightDaysAgo,
  waitFor,
} from '@backbone/testing';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { StreamBridge, type StreamBridgeTopics } from './stream-bridge.ts';

// Recent bars: TimescaleDB's prune job deletes 1m bars past their retention mid-test.
const FIRST_BAR_MS = utcMidnightDaysAgo(2);

const logger = createLogger({ name: 'stream-bridge-test', level: 'error' });
const kafka = createKafkajsClient({
  brokers: testEndpoints().kafkaBrokers,
  clientId: uniqueName('bridge'),
  logLevel: 'error',
});
const admin = kafka.admin();
const producer = kafka.producer();
let database: { url: string; drop(): Promise<void> };
// The deployment's topics and consumer group under a namespace of this test's own.
const kafkaNamespace = `${uniqueName('bridge')}.`;
const topics: StreamBridgeTopics = {
  bars: topicName({ namespace: kafkaNamespace }, 'market.bars.v1'),
  deadLetter: topicName({ namespace: kafkaNamespace }, 'market.bars.v1.dlq'),
  ingestEvents: topicName({ namespace: kafkaNamespace }, 'backbone.ingest-events.v1'),
};
// The future-skew test's own topics and group, so its dead letters are the only ones it reads.
const skewNamespace = `${uniqueName('bridge_skew')}.`;
// The stalled-partition test's own topics and group.
const stallNamespace = `${uniqueName('bridge_stall')}.`;
const namespaces = [kafkaNamespace, skewNamespace, stallNamespace];

beforeAll(async () => {
  database = await createTestDatabase('stream_bridge', { migrate });
  await Promise.all([admin.connect(), producer.connect()]);
  for (const namespace of namespaces) {
    const config = systemConfigSchema.parse({ kafka: { namespace } });
    await ensureTopics(admin, topicSpecsFromConfig(config.kafka));
  }
});

afterAll(async () => {
  await admin.deleteTopics(
    namespaces.flatMap((namespace) =>
      topicSpecsFromConfig(systemConfigSchema.parse({ kafka: { namespace } }).kafka).map((spec) => spec.name),
    ),
  );
  await Promise.allSettled([admin.close(), producer.close()]);
  await database.drop();
});

it('runs sink and outbox relay under one supervisor on the namespaced topics: bars stored, poison dead-lettered, ingest events on Kafka', async () => {
  const config = systemConfigSchema.parse({
    database: { url: database.url },
    kafka: {
      brokers: testEndpoints().kafkaBrokers,
      namespace: kafkaNamespace,
      consumer: { maxBatchRecords: 100 },
    },
    workers: { streamBridge: { shutdownDeadlineMs: 5_000 } },
  });
  const pool = createPool(config.database, { applicationName: 'stream-bridge-test' });
  // No topics or group passed: the bridge derives them from kafka.namespace.
  const bridge = new StreamBridge({ config, pool, kafka, logger });
  expect(bridge.topics).toEqual(topics);
  expect(bridge.groupId).toBe(`${kafkaNamespace}stream-bridge`);
  await bridge.start();
  const supervisor = new Supervisor({ name: 'stream-bridge', children: bridge.children, logger });
  supervisor.start();
  try {
    const bars = Array.from({ length: 50 }, (_, i) => ({
      symbol: `BRG${i % 5}`,
      timeframe: '1m',
      ts: new Date(FIRST_BAR_MS + i * 60_000).toISOString(),
      open: 10,
      high: 11,
      low: 9,
      close: 10.5,
      volume: i,
      source: 'feed',
    }));
    await producer.send(topics.bars, [
      ...bars.map((bar) => ({ key: bar.symbol, value: JSON.stringify(bar) })),
      { key: 'BRG0', value: 'not json' },
    ]);
    await waitFor(
      async () =>
        (
          await pool.query<{ n: number }>(
            `SELECT count(*)::int AS n FROM market_data.bars WHERE symbol LIKE 'BRG%'`,
          )
        ).rows[0]?.n === bars.length,
      { timeoutMs: 40_000, description: 'the 50 bars stored' },
    );

    // The sink wrote one ingest event per transaction; the relay publishes all of them.
    const outbox = await waitFor(
      async () => {
        const result = await pool.query<{ rows: number; inserted: number; rejected: number }>(
          `SELECT count(*)::int AS rows,
                  coalesce(sum((payload->'counts'->>'inserted')::int), 0)::int AS inserted,
                  coalesce(sum((payload->'counts'->>'rejected')::int), 0)::int AS rejected
           FROM backbone.outbox WHERE topic = $1 AND published_at IS NOT NULL`,
          [topics.ingestEvents],
        );
        const row = result.rows[0];
        return row !== undefined && row.inserted === bars.length && row.rejected === 1 ? row : undefined;
      },
      { timeoutMs: 60_000, description: 'ingest events for every stored and rejected record, published' },
    );
    const events: ConsumedMessage[] = [];
    const reader = kafka.consumer({ groupId: uniqueName('reader') });
    await reader.connect();
    await reader.subscribe([topics.ingestEvents], { fromBeginning: true });
    await reader.run({
      eachBatch: (batch) => {
        events.push(...batch.messages);
        const last = batch.messages.at(-1);
        if (last !== undefined) batch.resolveOffset(last.offset);
        return Promise.resolve();
      },
    });
    try {
      await waitFor(() => events.length >= outbox.rows, {
        timeoutMs: 60_000,
        description: `${outbox.rows} ingest events on Kafka`,
      });
    } finally {
      await reader.close();
    }
    const parsed = events.map((event) =>
      ingestRunEventSchema.parse(JSON.parse(event.value?.toString() ?? '')),
    );
    expect(parsed.reduce((sum, event) => sum + event.counts.inserted, 0)).toBe(bars.length);
    expect(parsed.reduce((sum, event) => sum + event.counts.rejected, 0)).toBe(1);
    expect(events.length).toBe(outbox.rows);
    expect(events.map((event) => event.key?.toString())).toEqual(parsed.map((event) => event.runId));
    const groups = await pool.query<{ group_id: string; topic: string }>(
      'SELECT DISTINCT group_id, topic FROM backbone.consumer_offsets',
    );
    expect(groups.rows).toEqual([{ group_id: `${kafkaNamespace}stream-bridge`, topic: topics.bars }]);
    const readiness = await bridge.readiness();
    expect(readiness).toMatchObject({ ready: true, details: { database: 'ok', kafka: 'ok' } });
    expect(supervisor.snapshot().children.map((child) => [child.name, child.state])).toEqual([
      ['sink', 'running'],
      ['outbox-relay', 'running'],
    ]);
  } finally {
    const report = await supervisor.stop();
    await bridge.stop();
    await pool.end();
    expect(report.clean).toBe(true);
  }
});

it('is not ready while PostgreSQL does not answer', async () => {
  const config = systemConfigSchema.parse({
    database: { url: 'postgres://postgres@127.0.0.1:1/backbone' },
    kafka: { brokers: testEndpoints().kafkaBrokers },
  });
  const pool = createPool(config.database, { onError: () => undefined });
  const bridge = new StreamBridge({ config, pool, kafka, logger, topics, probeTimeoutMs: 1_000 });
  await bridge.start();
  try {
    const readiness = await bridge.readiness();
    expect(readiness.ready).toBe(false);
    expect(readiness.details['kafka']).toBe('ok');
    expect(readiness.details['database']).not.toBe('ok');
  } finally {
    await bridge.stop();
    await pool.end();
  }
});

it('applies ingest.maxFutureSkewSeconds: with 60 s, a bar about 2 min ahead is dead-lettered as ts_in_future, one under a minute ahead is stored', async () => {
  const config = systemConfigSchema.parse({
    database: { url: database.url },
    kafka: { brokers: testEndpoints().kafkaBrokers, namespace: skewNamespace },
    ingest: { maxFutureSkewSeconds: 60 },
    workers: { streamBridge: { shutdownDeadlineMs: 5_000 } },
  });
  // 1m bars open on whole minutes: the next one must be at least 15 s ahead, so it is still in
  // the future (and within the 60 s) when the sink checks it, and the one after is 75-120 s
  // ahead (stored under the built-in 5 min default, so only the configured skew rejects it).
  const nextMinute = () => (Math.floor(Date.now() / 60_000) + 1) * 60_000;
  const ahead = await waitFor(() => (nextMinute() - Date.now() >= 15_000 ? nextMinute() : undefined), {
    timeoutMs: 20_000,
    description: 'a minute boundary at least 15 s ahead',
  });
  const bar = (ts: number) => ({
    symbol: 'SKEW',
    timeframe: '1m',
    ts: new Date(ts).toISOString(),
    open: 10,
    high: 11,
    low: 9,
    close: 10.5,
    volume: 1,
    source: 'feed',
  });
  const near = bar(ahead);
  const far = bar(ahead + 60_000);
  const pool = createPool(config.database, { applicationName: 'stream-bridge-skew-test' });
  const bridge = new StreamBridge({ config, pool, kafka, logger });
  await bridge.start();
  const supervisor = new Supervisor({ name: 'stream-bridge', children: bridge.children, logger });
  supervisor.start();
  const deadLetters: ConsumedMessage[] = [];
  const reader = kafka.consumer({ groupId: uniqueName('dlq_reader') });
  try {
    await producer.send(bridge.topics.bars, [
      { key: near.symbol, value: JSON.stringify(near) },
      { key: far.symbol, value: JSON.stringify(far) },
    ]);
    await waitFor(() => bridge.sink !== undefined && bridge.sink.stats().records >= 2, {
      timeoutMs: 40_000,
      description: 'the sink to decide both bars',
    });
    const stored = await pool.query<{ ts: Date }>(
      `SELECT ts FROM market_data.bars WHERE symbol = 'SKEW' ORDER BY ts`,
    );
    expect(stored.rows.map((row) => row.ts.toISOString())).toEqual([near.ts]);

    await reader.connect();
    await reader.subscribe([bridge.topics.deadLetter], { fromBeginning: true });
    await reader.run({
      eachBatch: (batch) => {
        deadLetters.push(...batch.messages);
        const last = batch.messages.at(-1);
        if (last !== undefined) batch.resolveOffset(last.offset);
        return Promise.resolve();
      },
    });
    await waitFor(() => deadLetters.length >= 1, { timeoutMs: 30_000, description: 'the dead letter' });
    expect(deadLetters).toHaveLength(1);
    const [deadLetter] = deadLetters;
    expect(deadLetter?.headers[DEAD_LETTER_HEADERS.reason]).toBe('ts_in_future');
    const envelope = deadLetterEnvelopeSchema.parse(JSON.parse(deadLetter?.value?.toString() ?? ''));
    expect(envelope.reason).toBe('ts_in_future');
    expect(JSON.parse(envelope.payload?.data ?? '')).toEqual(far);
  } finally {
    await reader.close();
    const report = await supervisor.stop();
    await bridge.stop();
    await pool.end();
    expect(report.clean).toBe(true);
  }
});

it('finding 3.1: /readyz turns not ready while a partition has lag and the sink stores no progress for readiness.stalledPartitionSeconds, naming it; ready again once the sink moves', async () => {
  const config = systemConfigSchema.parse({
    database: { url: database.url },
    kafka: { brokers: testEndpoints().kafkaBrokers, namespace: stallNamespace },
    readiness: { stalledPartitionSeconds: 2 },
    workers: { streamBridge: { shutdownDeadlineMs: 5_000 } },
  });
  const bar = (minute: number) => ({
    symbol: 'STALL',
    timeframe: '1m',
    ts: new Date(FIRST_BAR_MS + minute * 60_000).toISOString(),
    open: 10,
    high: 11,
    low: 9,
    close: 10.5,
    volume: 1,
    source: 'feed',
  });
  // Every slice fails while `failing` is set, as a write the database keeps refusing does: the
  // sink pauses the partition and retries, storing nothing.
  let failing = false;
  const pool = createPool(config.database, { applicationName: 'stream-bridge-stall-test' });
  const bridge = new StreamBridge({
    config,
    pool,
    kafka,
    logger,
    probeTimeoutMs: 5_000,
    sinkFaults: {
      beforeSlice: () => {
        if (failing) throw new Error('injected: the write keeps failing');
      },
    },
  });
  await bridge.start();
  const supervisor = new Supervisor({ name: 'stream-bridge', children: bridge.children, logger });
  supervisor.start();
  const storedCount = async () =>
    (
      await pool.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM market_data.bars WHERE symbol = 'STALL'`,
      )
    ).rows[0]?.n ?? 0;
  try {
    await producer.send(
      bridge.topics.bars,
      [0, 1].map((minute) => ({ key: 'STALL', value: JSON.stringify(bar(minute)) })),
    );
    await waitFor(async () => (await storedCount()) === 2, {
      timeoutMs: 40_000,
      description: 'the first 2 bars stored',
    });
    const progress = await pool.query<{ partition: number; updated_at: Date }>(
      `SELECT partition, updated_at FROM backbone.consumer_offsets WHERE group_id = $1`,
      [bridge.groupId],
    );
    const [row] = progress.rows;
    if (row === undefined) throw new Error('no stored offset');

    failing = true;
    await producer.send(
      bridge.topics.bars,
      [2, 3, 4].map((minute) => ({ key: 'STALL', value: JSON.stringify(bar(minute)) })),
    );
    const stalled = await waitFor(
      async () => {
        const readiness = await bridge.readiness();
        return readiness.ready ? undefined : readiness;
      },
      { timeoutMs: 30_000, intervalMs: 250, description: '/readyz to report the stalled partition' },
    );
    expect(stalled.details).toMatchObject({
      database: 'ok',
      kafka: 'ok',
      stalledPartitions: [
        {
          group: bridge.groupId,
          topic: bridge.topics.bars,
          partition: row.partition,
          lag: 3,
          firstPendingOffset: 2,
          lastProgressAt: row.updated_at.toISOString(),
        },
      ],
    });

    failing = false;
    await waitFor(async () => (await storedCount()) === 5, {
      timeoutMs: 40_000,
      description: 'the sink to store the rest',
    });
    const moving = await bridge.readiness();
    expect(moving.ready).toBe(true);
    expect(moving.details['stalledPartitions']).toEqual([]);
    // Stop once the relay has published the sink's ingest events, not in the middle of a send.
    await waitFor(
      async () =>
        (await pool.query(`SELECT 1 FROM backbone.outbox WHERE published_at IS NULL LIMIT 1`)).rowCount === 0,
      { timeoutMs: 30_000, description: 'the outbox drained' },
    );
  } finally {
    const report = await supervisor.stop();
    await bridge.stop();
    await pool.end();
    expect(report.clean).toBe(true);
  }
});

it('finding 3 (outbox): /readyz is not ready while an outbox event waits past readiness.outboxAgeSeconds.fail, naming its topic', async () => {
  const config = systemConfigSchema.parse({
    database: { url: database.url },
    kafka: { brokers: testEndpoints().kafkaBrokers, namespace: kafkaNamespace },
    workers: { streamBridge: { shutdownDeadlineMs: 5_000 } },
    readiness: { outboxAgeSeconds: { warn: 1, fail: 2 } },
  });
  const pool = createPool(config.database, { applicationName: 'stream-bridge-test' });
  const bridge = new StreamBridge({ config, pool, kafka, logger });
  await bridge.start();
  const supervisor = new Supervisor({ name: 'stream-bridge', children: bridge.children, logger });
  supervisor.start();
  // A topic nobody created: the relay cannot send the event and keeps retrying it.
  const notCreated = uniqueName('bridge_not_created');
  const inserted = await pool.query<{ id: string }>(
    `INSERT INTO backbone.outbox (topic, key, payload) VALUES ($1, 'k', '{}') RETURNING id::text AS id`,
    [notCreated],
  );
  try {
    expect((await bridge.readiness()).ready).toBe(true);
    const stuck = await waitFor(
      async () => {
        const readiness = await bridge.readiness();
        return readiness.ready ? undefined : readiness;
      },
      { timeoutMs: 20_000, description: 'the bridge to turn not ready' },
    );
    expect(stuck.details).toMatchObject({ database: 'ok', kafka: 'ok' });
    expect(stuck.details['outbox']).toContain(`topic ${notCreated}`);
    expect(stuck.details['outbox']).toContain('past readiness.outboxAgeSeconds.fail (2 s)');
  } finally {
    await pool.query('DELETE FROM backbone.outbox WHERE id = $1', [inserted.rows[0]?.id]);
    await supervisor.stop();
    await bridge.stop();
    await pool.end();
  }
});
