import { createPool, migrate } from '@backbone/db';
import { lockNextOffset, storeNextOffset } from '@backbone/stream';
import { createKafkajsClient, type AdminPort, type KafkaClient, type ProducerPort } from '@backbone/kafka';
import {
  createTestDatabase,
  createTestTopic,
  freePort,
  testEndpoints,
  uniqueName,
  waitFor,
  type TestDatabase,
  type TestResource,
} from '@backbone/testing';
import { OutboxRelay } from '@backbone/stream';
import { createLogger } from '@backbone/telemetry';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCheck, type CheckDefinition } from '../run-check.ts';
import { testRules } from '../test-support/config.ts';
import { kafkaChecks, type KafkaChecks, type KafkaProbeInput } from './kafka.ts';

const rules = testRules({ readiness: { lag: { warn: 3, fail: 10 } } });

function check(checks: CheckDefinition[], name: string): CheckDefinition {
  const found = checks.find((candidate) => candidate.name === name);
  if (found === undefined) throw new Error(`no check ${name}`);
  return found;
}

describe('Kafka probes on the real broker', () => {
  let db: TestDatabase;
  let pool: pg.Pool;
  let kafka: KafkaClient;
  let producer: ProducerPort;
  let admin: AdminPort;
  let bars: { name: string } & TestResource;
  let dlq: { name: string } & TestResource;
  const opened: KafkaChecks[] = [];
  // Topics created by single tests, dropped after all: the shared producer keeps their metadata.
  const extraTopics: TestResource[] = [];
  const groupId = uniqueName('readiness_group');

  const probes = (overrides: Partial<KafkaProbeInput> = {}): KafkaChecks => {
    const created = kafkaChecks({
      createAdmin: () => kafka.admin(),
      rules,
      topics: [{ name: bars.name, partitions: 2, replicationFactor: 1 }],
      groups: [{ groupId, topics: [bars.name] }],
      deadLetterTopic: dlq.name,
      pool,
      ...overrides,
    });
    opened.push(created);
    return created;
  };

  beforeAll(async () => {
    db = await createTestDatabase('readiness_kafka', { migrate });
    pool = createPool({ url: db.url, poolSize: 4, statementTimeoutMs: 10_000 });
    kafka = createKafkajsClient({
      brokers: testEndpoints().kafkaBrokers,
      clientId: 'readiness-test',
      logLevel: 'error',
    });
    bars = await createTestTopic(testEndpoints().kafkaBrokers, 'readiness_bars', { partitions: 2 });
    dlq = await createTestTopic(testEndpoints().kafkaBrokers, 'readiness_dlq');
    producer = kafka.producer();
    await producer.connect();
    admin = kafka.admin();
    await admin.connect();
  });
  afterAll(async () => {
    await Promise.allSettled(opened.map((created) => created.close()));
    await Promise.allSettled([producer.close(), admin.close()]);
    await pool.end();
    await Promise.allSettled([
      bars.drop(),
      dlq.drop(),
      db.drop(),
      ...extraTopics.map((topic) => topic.drop()),
    ]);
  });

  it('cluster and topics: ok with brokers and the expected partitions', async () => {
    const { checks } = probes();
    const cluster = await runCheck(check(checks, 'kafka.cluster'), 10_000);
    expect(cluster.status).toBe('ok');
    expect(cluster.evidence.brokerCount).toBeGreaterThanOrEqual(1);
    const topics = await runCheck(check(checks, 'kafka.topics'), 10_000);
    expect(topics.status).toBe('ok');
    expect(topics.evidence.topics).toEqual([
      {
        topic: bars.name,
        partitions: 2,
        expectedPartitions: 2,
        offlinePartitions: [],
        underReplicatedPartitions: [],
      },
    ]);
  });

  it('topics: fail for a missing topic and for fewer partitions than configured', async () => {
    const missing = uniqueName('readiness_missing');
    const { checks } = probes({
      topics: [
        { name: bars.name, partitions: 4, replicationFactor: 1 },
        { name: missing, partitions: 1, replicationFactor: 1 },
      ],
    });
    const result = await runCheck(check(checks, 'kafka.topics'), 10_000);
    expect(result.status).toBe('fail');
    expect(result.message).toContain(`Kafka topic ${missing} does not exist; run ./backbone topics ensure.`);
    expect(result.message).toContain(`Kafka topic ${bars.name} has 2 partitions, the config expects 4`);
  });

  it('cluster: fail when the brokers point at a closed port', async () => {
    const port = await freePort();
    const nowhere = createKafkajsClient({
      brokers: [`127.0.0.1:${port}`],
      clientId: 'readiness-nowhere',
      logLevel: 'error',
    });
    const { checks } = probes({ createAdmin: () => nowhere.admin() });
    const result = await runCheck(check(checks, 'kafka.cluster'), 1_500);
    expect(result.status).toBe('fail');
    expect(['probe_timeout', 'probe_error']).toContain(result.reason);
    expect(result.message).toContain('kafka');
  });

  it('consumer lag per partition: warn, then fail above the thresholds, ok once the sink stored its offsets', async () => {
    const { checks } = probes();
    const lag = check(checks, 'kafka.consumer-lag');
    const send = (count: number) =>
      producer.send(
        bars.name,
        Array.from({ length: count }, (_, i) => ({ key: 'EURUSD', value: `m${i}`, partition: 0 })),
      );
    expect((await runCheck(lag, 10_000)).status).toBe('ok');
    await send(5);
    const warned = await runCheck(lag, 10_000);
    expect(warned.status).toBe('warn');
    expect(warned.message).toContain(
      `Consumer group ${groupId} lags 5 messages on ${bars.name}[0], above the warn threshold 3`,
    );
    await send(7);
    const failed = await runCheck(lag, 10_000);
    expect(failed.status).toBe('fail');
    expect(failed.evidence.totalLag).toBe(12);
    // The sink's truth is backbone.consumer_offsets: everything applied.
    await pool.query(
      `INSERT INTO backbone.consumer_offsets (group_id, topic, partition, next_offset) VALUES ($1, $2, 0, 12)`,
      [groupId, bars.name],
    );
    const caughtUp = await runCheck(lag, 10_000);
    expect(caughtUp.status).toBe('ok');
    expect(caughtUp.evidence.totalLag).toBe(0);
  });

  it('finding 3.4: dead letters within the window warn on a one-shot probe; older ones do not count', async () => {
    const windowed = testRules({ readiness: { deadLetters: { windowSeconds: 600, warnCount: 2 } } });
    const topic = await createTestTopic(testEndpoints().kafkaBrokers, 'readiness_dlq_window', {
      partitions: 2,
    });
    extraTopics.push(topic);
    // Three dead letters from two hours ago: retained, but outside the window.
    const twoHoursAgo = Date.now() - 2 * 3_600_000;
    await producer.send(topic.name, [
      { key: 'EURUSD', value: 'old-1', partition: 0, timestamp: twoHoursAgo },
      { key: 'EURUSD', value: 'old-2', partition: 0, timestamp: twoHoursAgo },
      { key: 'GBPUSD', value: 'old-3', partition: 1, timestamp: twoHoursAgo },
    ]);
    // Every round is a fresh probe set, as a one-shot `./backbone report` is.
    const oneShot = () =>
      check(probes({ rules: windowed, deadLetterTopic: topic.name }).checks, 'kafka.dead-letters');
    const quiet = await runCheck(oneShot(), 10_000);
    expect(quiet.status).toBe('ok');
    expect(quiet.evidence).toMatchObject({ inWindow: 0, retainedRecords: 3, windowSeconds: 600 });

    await producer.send(topic.name, [{ key: 'EURUSD', value: 'bad', partition: 0 }]);
    expect((await runCheck(oneShot(), 10_000)).status).toBe('ok');
    await producer.send(topic.name, [{ key: 'GBPUSD', value: 'worse', partition: 1 }]);
    const warned = await runCheck(oneShot(), 10_000);
    expect(warned.status).toBe('warn');
    expect(warned.reason).toBe('dead_letters_in_window');
    expect(warned.message).toContain(
      `Dead-letter topic ${topic.name} received 2 records in the last 10m (warn at 2; 5 retained)`,
    );
  });

  it('finding 3.1: a partition with lag whose stored offset does not move fails naming group, topic, partition, lag and since when; progress brings ok', async () => {
    const stalledAfterSeconds = 3;
    const stallRules = testRules({
      readiness: { lag: { warn: 1_000, fail: 10_000 }, stalledPartitionSeconds: stalledAfterSeconds },
    });
    const topic = await createTestTopic(testEndpoints().kafkaBrokers, 'readiness_stall', { partitions: 2 });
    extraTopics.push(topic);
    const sinkGroup = uniqueName('readiness_stall_group');
    const { checks } = probes({ rules: stallRules, groups: [{ groupId: sinkGroup, topics: [topic.name] }] });
    const stall = check(checks, 'kafka.stalled-partitions');
    // The sink's own offset store, as it advances it with the rows it stores.
    const storeOffset = async (partition: number, nextOffset: bigint) => {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        await lockNextOffset(client, sinkGroup, topic.name, partition);
        await storeNextOffset(client, sinkGroup, topic.name, partition, nextOffset);
        await client.query('COMMIT');
      } finally {
        client.release();
      }
    };
    await producer.send(
      topic.name,
      Array.from({ length: 5 }, (_, i) => ({ key: 'EURUSD', value: `bar-${i}`, partition: 0 })),
    );
    // The sink applied two records on partition 0, then stopped moving (a record it cannot store).
    await storeOffset(0, 2n);
    const storedAt = (
      await pool.query<{ updated_at: Date }>(
        `SELECT updated_at FROM backbone.consumer_offsets WHERE group_id = $1 AND partition = 0`,
        [sinkGroup],
      )
    ).rows[0]?.updated_at;
    if (storedAt === undefined) throw new Error('no stored offset');
    // Just stored and the records are fresh: lag, but no stall yet.
    expect((await runCheck(stall, 10_000)).status).toBe('ok');

    const stalled = await waitFor(
      async () => {
        const result = await runCheck(stall, 10_000);
        return result.status === 'fail' ? result : false;
      },
      { description: 'the stalled partition to fail readiness', timeoutMs: 20_000, intervalMs: 250 },
    );
    expect(stalled.reason).toBe('partition_stalled');
    expect(stalled.message).toContain(
      `Consumer group ${sinkGroup} has stored no progress on ${topic.name}[0] since ${storedAt.toISOString()}`,
    );
    expect(stalled.message).toContain('while 3 records wait, the oldest (offset 2) for over 3s');
    expect(stalled.evidence.stalled).toEqual([
      {
        group: sinkGroup,
        topic: topic.name,
        partition: 0,
        lag: 3,
        firstPendingOffset: 2,
        lastProgressAt: storedAt.toISOString(),
      },
    ]);

    // The sink moves again (one more record applied): progress, no stall, though lag remains.
    await storeOffset(0, 3n);
    const moving = await runCheck(stall, 10_000);
    expect(moving.status).toBe('ok');
    expect(moving.evidence.stalled).toEqual([]);
  });

  it('finding 3 (outbox): events Kafka refused for good warn naming count and topic; an unsent event older than the configured threshold fails naming its topic', async () => {
    // A topic whose broker-side record limit is 1 KiB: the relay's 4 KB event is refused for good.
    const small = uniqueName('readiness_small');
    await admin.createTopics([
      { name: small, partitions: 1, replicationFactor: 1, configs: { 'max.message.bytes': '1024' } },
    ]);
    const notCreated = uniqueName('readiness_not_created');
    const relay = new OutboxRelay({
      kafka,
      pool,
      listenConnection: { connectionString: db.url },
      logger: createLogger({ name: 'readiness-relay', level: 'silent' }),
      pollIntervalMs: 200,
      retryBackoff: { initialMs: 50, maxMs: 500 },
      stopGraceMs: 1_000,
    });
    const { checks } = probes({
      rules: testRules({ readiness: { outboxAgeSeconds: { warn: 1, fail: 2 } } }),
    });
    const unsent = check(checks, 'kafka.outbox-relay');
    const dead = check(checks, 'kafka.outbox-dead-events');
    try {
      await relay.start();
      expect((await runCheck(dead, 10_000)).status).toBe('ok');
      await pool.query(
        `INSERT INTO backbone.outbox (topic, key, payload) VALUES ($1, 'big', $2), ($1, 'fits', '{}')`,
        [small, JSON.stringify({ blob: 'x'.repeat(4_000) })],
      );
      const warned = await waitFor(
        async () => {
          const outcome = await runCheck(dead, 10_000);
          return outcome.status === 'warn' ? outcome : undefined;
        },
        { timeoutMs: 30_000, description: 'the dead-events check to warn' },
      );
      expect(warned.reason).toBe('outbox_events_dead');
      expect(warned.message).toContain(
        `1 outbox events were refused by Kafka for good and set aside (dead) on ${small} (1 since`,
      );
      expect(warned.message).toMatch(/larger than the max message size/);
      // The dead event is not waiting to be sent, and the one behind it was published.
      expect((await runCheck(unsent, 10_000)).status).toBe('ok');

      // An event for a topic nobody created cannot be sent; the relay keeps retrying it.
      await pool.query(`INSERT INTO backbone.outbox (topic, key, payload) VALUES ($1, 'k', '{}')`, [
        notCreated,
      ]);
      const failed = await waitFor(
        async () => {
          const outcome = await runCheck(unsent, 10_000);
          return outcome.status === 'fail' ? outcome : undefined;
        },
        { timeoutMs: 30_000, description: 'the outbox-relay check to fail' },
      );
      expect(failed.reason).toBe('outbox_relay_lagging');
      expect(failed.message).toContain(`holds 1 unsent events, the oldest (topic ${notCreated})`);
      expect(failed.evidence.oldestUnpublishedTopic).toBe(notCreated);
    } finally {
      await relay.stop();
      await admin.deleteTopics([small]);
    }
  });
});
