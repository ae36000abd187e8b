import { startTcpProxy, type TcpProxy, uniqueName, waitFor } from '@backbone/testing';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { BarSink } from './bar-sink.ts';
import { barRecord, barRulesNow, validBar } from './test-support/bars.ts';
import {
  createMigratedDatabase,
  createTestKafka,
  testLogger,
  type TestDatabase,
  type TestKafka,
} from './test-support/stack.ts';

let db: TestDatabase;
let kafka: TestKafka;
let proxy: TcpProxy;

beforeAll(async () => {
  [db, kafka] = await Promise.all([createMigratedDatabase('stream_outage'), createTestKafka()]);
  const url = new URL(db.url);
  proxy = await startTcpProxy({ host: url.hostname, port: Number(url.port || 5432) });
});

afterAll(async () => {
  await proxy.close();
  await kafka.dispose();
  await db.drop();
});

async function committed(groupId: string, topic: string): Promise<bigint> {
  const result = await db.pool.query<{ next_offset: string }>(
    'SELECT next_offset::text AS next_offset FROM backbone.consumer_offsets WHERE group_id = $1 AND topic = $2',
    [groupId, topic],
  );
  return BigInt(result.rows[0]?.next_offset ?? -1);
}

async function endOffset(topic: string): Promise<bigint> {
  const [partition] = await kafka.admin.fetchTopicOffsets(topic);
  return partition?.high ?? 0n;
}

it('pauses the partition while PostgreSQL is unreachable and resumes without loss or duplicates', async () => {
  const topic = await kafka.topic('bars');
  const groupId = uniqueName('sink');
  const url = new URL(db.url);
  url.host = `127.0.0.1:${proxy.port}`;
  // The sink reaches PostgreSQL only through the proxy the test cuts.
  const proxiedPool = new pg.Pool({
    connectionString: url.toString(),
    max: 4,
    connectionTimeoutMillis: 2_000,
  });
  proxiedPool.on('error', () => undefined);
  const sink = new BarSink({
    kafka: kafka.client,
    pool: proxiedPool,
    logger: testLogger('sink-outage-test'),
    groupId,
    topic,
    deadLetterTopic: await kafka.topic('dlq'),
    ingestEventsTopic: 'unused-events',
    maxBatchRecords: 100,
    maxBatchBytes: 1_048_576,
    maxMessageBytes: 4096,
    retryBackoff: { initialMs: 50, maxMs: 500 },
    rules: { now: barRulesNow, maxFutureSkewMs: 0 },
  });
  const symbols = ['SYM9300', 'SYM9301'];
  const before = Array.from({ length: 200 }, (_, i) => validBar(9300 + (i % 2), i));
  const during = Array.from({ length: 300 }, (_, i) => validBar(9300 + (i % 2), 1000 + i));
  try {
    await kafka.producer.send(topic, before.map(barRecord));
    await sink.start();
    await waitFor(async () => (await committed(groupId, topic)) === 200n, {
      timeoutMs: 30_000,
      description: 'the first 200 bars committed',
    });

    proxy.cut();
    await kafka.producer.send(topic, during.map(barRecord));
    await waitFor(() => sink.stats().paused.some((paused) => paused.partitions.includes(0)), {
      timeoutMs: 20_000,
      description: 'the partition paused for backpressure',
    });
    expect(sink.stats().failedAttempts).toBeGreaterThan(0);
    expect(await committed(groupId, topic)).toBe(200n);

    proxy.restore();
    const end = await endOffset(topic);
    await waitFor(async () => (await committed(groupId, topic)) === end, {
      timeoutMs: 30_000,
      description: 'every bar committed after the outage',
    });
    await waitFor(() => sink.stats().paused.length === 0, { description: 'the partition resumed' });

    const rows = await db.pool.query<{ symbol: string; ts: Date; revision: number }>(
      'SELECT symbol, ts, revision FROM market_data.bars WHERE symbol = ANY($1::text[])',
      [symbols],
    );
    expect(rows.rows.length).toBe(before.length + during.length);
    expect(rows.rows.every((row) => row.revision === 0)).toBe(true);
    expect(sink.stats().inserted).toBe(before.length + during.length);
  } finally {
    proxy.restore();
    await sink.stop();
    await proxiedPool.end();
  }
});
