import {
  createBarFeed,
  createKafkajsClient,
  publishFeed,
  type KafkaClient,
  type OutgoingMessage,
} from '@backbone/kafka';
import { startPrivateKafka, type PrivateKafka } from '@backbone/stack';
import { uniqueName, waitFor } from '@backbone/testing';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { BarSink, type SliceStart } from './bar-sink.ts';
import { BAR_BASE_MS, barKey } from './test-support/bars.ts';
import { createMigratedDatabase, testLogger, type TestDatabase } from './test-support/stack.ts';

// The broker restarted here is a private one on free ports: restarting the shared broker on
// 127.0.0.1:9092 would break every other test file running at the same time.
let db: TestDatabase;
let broker: PrivateKafka;
let client: KafkaClient;

beforeAll(async () => {
  [db, broker] = await Promise.all([
    createMigratedDatabase('stream_broker_restart'),
    startPrivateKafka({ purpose: 'stream-test' }),
  ]);
  client = createKafkajsClient({
    brokers: broker.brokers,
    clientId: uniqueName('restart_test'),
    logLevel: 'error',
  });
}, 180_000);

afterAll(async () => {
  await broker.dispose();
  await db.drop();
}, 120_000);

const SYMBOLS = ['RST0', 'RST1', 'RST2', 'RST3'];
// Inside the 1m retention (30 days), which TimescaleDB's prune job enforces while the test runs.
const FEED_START = new Date(BAR_BASE_MS);

/** Invalid records of two kinds; each must reach the dead-letter topic, never the table. */
function poison(index: number, symbol: string): OutgoingMessage {
  const value =
    index % 2 === 0
      ? `{"symbol":"${symbol}", not json`
      : JSON.stringify({
          symbol,
          timeframe: '1m',
          ts: '2025-06-01T00:00:00Z',
          open: 1,
          high: 0.5,
          low: 2,
          close: 1,
          volume: 1,
          source: 'feed',
        });
  return { key: symbol, value };
}

it(
  'survives a broker restart mid-stream: every valid bar stored once, offsets at the log end',
  { timeout: 300_000 },
  async () => {
    const admin = client.admin();
    const producer = client.producer();
    await admin.connect();
    await producer.connect();
    const topic = uniqueName('bars');
    const deadLetterTopic = uniqueName('dlq');
    await admin.createTopics([
      { name: topic, partitions: 2, replicationFactor: 1, configs: {} },
      { name: deadLetterTopic, partitions: 1, replicationFactor: 1, configs: {} },
    ]);

    const feed = createBarFeed({
      symbols: SYMBOLS,
      timeframe: '1m',
      seed: 11,
      start: FEED_START,
    });
    const validKeys: string[] = [];
    let poisonCount = 0;
    // The feed's bars, each recorded as produced only once the broker acknowledged it.
    const produceValid = async (totalBars: number): Promise<void> => {
      const before = feed.generated;
      const summary = await publishFeed({
        producer,
        topic,
        feed,
        totalBars,
        ratePerSecond: null,
        maxBatchSize: 500,
      });
      expect(summary.produced).toBe(totalBars);
      // Replay the same seed to learn the keys of exactly the bars just produced.
      const replay = createBarFeed({
        symbols: SYMBOLS,
        timeframe: '1m',
        seed: 11,
        start: FEED_START,
      });
      for (let i = 0; i < before + totalBars; i += 1) {
        const bar = replay.next();
        if (i >= before) validKeys.push(barKey(bar.symbol, bar.ts));
      }
    };
    const producePoison = async (count: number): Promise<void> => {
      const records = Array.from({ length: count }, (_, i) =>
        poison(poisonCount + i, SYMBOLS[i % SYMBOLS.length] ?? 'RST0'),
      );
      await producer.send(topic, records);
      poisonCount += count;
    };

    // The sink is held inside one slice of partition 0 (records fetched, transaction not begun)
    // while the broker goes down: a batch is truly in flight when the broker disappears.
    const held = Promise.withResolvers<SliceStart>();
    const release = Promise.withResolvers<undefined>();
    let holdArmed = true;
    const groupId = uniqueName('sink');
    let crashed: unknown;
    const sink = new BarSink({
      kafka: client,
      pool: db.pool,
      logger: testLogger('sink-broker-restart-test'),
      groupId,
      topic,
      deadLetterTopic,
      ingestEventsTopic: 'unused-events',
      maxBatchRecords: 100,
      maxBatchBytes: 65_536,
      maxMessageBytes: 4096,
      retryBackoff: { initialMs: 50, maxMs: 1_000 },
      rules: { now: () => new Date('2030-01-01T00:00:00Z'), maxFutureSkewMs: 0 },
      faults: {
        async beforeSlice(slice) {
          if (!holdArmed || slice.partition !== 0 || slice.firstOffset < 500n) return;
          holdArmed = false;
          held.resolve(slice);
          await release.promise;
        },
      },
    });
    sink.crashed.catch((error: unknown) => {
      crashed = error;
    });

    const committed = async (): Promise<Map<number, bigint>> => {
      const stored = await db.pool.query<{ partition: number; next_offset: string }>(
        'SELECT partition, next_offset::text AS next_offset FROM backbone.consumer_offsets WHERE group_id = $1 AND topic = $2',
        [groupId, topic],
      );
      return new Map(stored.rows.map((row) => [row.partition, BigInt(row.next_offset)]));
    };

    // Phase durations for the report (never asserted).
    const laps: string[] = [];
    let lapStart = performance.now();
    const lap = (name: string): void => {
      const now = performance.now();
      laps.push(`${name} ${((now - lapStart) / 1000).toFixed(1)} s`);
      lapStart = now;
    };
    try {
      await produceValid(2_000);
      await producePoison(6);
      await sink.start();
      const heldSlice = await held.promise;
      const beforeStop = await committed();
      // Mid-stream: partition 0 is part-way through its records.
      expect(beforeStop.get(0) ?? 0n).toBeLessThanOrEqual(heldSlice.firstOffset);
      expect(beforeStop.get(0) ?? 0n).toBeGreaterThan(0n);

      lap('produce, start, reach the held slice');
      await broker.stop();
      lap('broker stop');
      // The held slice now commits to the database with no broker to commit its offset to.
      release.resolve(undefined);
      const afterRelease = heldSlice.lastOffset + 1n;
      await waitFor(async () => ((await committed()).get(0) ?? 0n) >= afterRelease, {
        timeoutMs: 30_000,
        description: 'the held slice committed to the database while the broker is down',
      });

      lap('held slice committed');
      await broker.start();
      lap('broker start');
      // Keep producing to the restarted broker (same ports, same storage).
      await produceValid(2_000);
      await producePoison(4);

      const ends = await admin.fetchTopicOffsets(topic);
      expect(ends.reduce((sum, end) => sum + end.high, 0n)).toBe(BigInt(validKeys.length + poisonCount));
      await waitFor(
        async () => {
          const stored = await committed();
          return ends.every((end) => stored.get(end.partition) === end.high);
        },
        {
          timeoutMs: 120_000,
          intervalMs: 100,
          description: 'every partition committed to its log end after the restart',
        },
      );
      lap('produce more, all committed to the log end');
      console.info(
        `broker restart: ${validKeys.length} valid + ${poisonCount} poison records; ${laps.join(', ')}; ${sink.stats().assignments} assignments, ${sink.stats().fenced} fenced, ${sink.stats().failedAttempts} failed attempts`,
      );
    } finally {
      release.resolve(undefined);
      await sink.stop();
      await producer.close();
      await admin.close();
    }

    expect(crashed).toBeUndefined();
    const rows = await db.pool.query<{ symbol: string; ts: Date; revision: number }>(
      'SELECT symbol, ts, revision FROM market_data.bars',
    );
    expect(rows.rows.length).toBe(validKeys.length);
    expect(new Set(rows.rows.map((row) => barKey(row.symbol, row.ts)))).toEqual(new Set(validKeys));
    // Inserted once each: a second write of the same bar would count as unchanged or bump revision.
    expect(rows.rows.every((row) => row.revision === 0)).toBe(true);
    expect(sink.stats()).toMatchObject({
      inserted: validKeys.length,
      updated: 0,
      unchanged: 0,
      deadLettered: poisonCount,
    });
  },
);
