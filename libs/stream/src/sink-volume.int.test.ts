import { DEAD_LETTER_HEADERS } from '@backbone/contracts';
import { createBarFeed, type OutgoingMessage } from '@backbone/kafka';
import { uniqueName, waitFor } from '@backbone/testing';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { BarSink } from './bar-sink.ts';
import { BAR_BASE_MS, barKey } from './test-support/bars.ts';
import {
  createMigratedDatabase,
  createTestKafka,
  testLogger,
  type TestDatabase,
  type TestKafka,
} from './test-support/stack.ts';
import { readTopic } from './test-support/topics.ts';

let db: TestDatabase;
let kafka: TestKafka;

beforeAll(async () => {
  [db, kafka] = await Promise.all([createMigratedDatabase('stream_volume'), createTestKafka()]);
});

afterAll(async () => {
  await kafka.dispose();
  await db.drop();
});

const TOTAL = 100_000;
const SYMBOLS = Array.from({ length: 20 }, (_, i) => `VOL${i}`);
// 5,000 minutes per symbol, ending in the past and inside the 1m retention (30 days), which
// TimescaleDB's prune job enforces while the test runs.
const FEED_START = new Date(BAR_BASE_MS - 2 * 86_400_000);

/** Poison of four kinds, one per 997 records. */
function poison(index: number, symbol: string): string {
  switch (index % 4) {
    case 0:
      return `{"symbol":"${symbol}", not json`;
    case 1:
      return JSON.stringify({
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
    case 2:
      return JSON.stringify({
        symbol,
        timeframe: '1m',
        ts: '2031-01-01T00:00:00Z',
        open: 1,
        high: 1,
        low: 1,
        close: 1,
        volume: 1,
        source: 'feed',
      });
    default:
      return JSON.stringify({
        symbol,
        timeframe: '1m',
        ts: '2025-06-01T00:00:00Z',
        open: -1,
        high: 1,
        low: 1,
        close: 1,
        volume: 1,
        source: 'feed',
      });
  }
}

it(
  '100,000 bars with poison mixed in: exactly the valid ones in the table, the invalid ones in the DLQ',
  { timeout: 300_000 },
  async () => {
    const names = {
      bars: await kafka.topic('bars', 6),
      dlq: await kafka.topic('dlq'),
      events: 'volume-events',
    };
    const feed = createBarFeed({
      symbols: SYMBOLS,
      timeframe: '1m',
      seed: 7,
      start: FEED_START,
    });
    const validKeys: string[] = [];
    let poisonCount = 0;
    let pending: OutgoingMessage[] = [];
    for (let i = 0; i < TOTAL; i += 1) {
      const bar = feed.next();
      if (i % 997 === 996) {
        pending.push({ key: bar.symbol, value: poison(poisonCount, bar.symbol) });
        poisonCount += 1;
      } else {
        pending.push({ key: bar.symbol, value: JSON.stringify(bar) });
        validKeys.push(barKey(bar.symbol, bar.ts));
      }
      if (pending.length === 5_000) {
        await kafka.producer.send(names.bars, pending);
        pending = [];
      }
    }
    if (pending.length > 0) await kafka.producer.send(names.bars, pending);
    const ends = await kafka.admin.fetchTopicOffsets(names.bars);

    const groupId = uniqueName('sink');
    const sink = new BarSink({
      kafka: kafka.client,
      pool: db.pool,
      logger: testLogger('volume-test'),
      groupId,
      topic: names.bars,
      deadLetterTopic: names.dlq,
      ingestEventsTopic: names.events,
      // The config defaults.
      maxBatchRecords: 5_000,
      maxBatchBytes: 4_194_304,
      maxMessageBytes: 1_048_576,
      concurrency: 2,
      rules: { now: () => new Date('2030-01-01T00:00:00Z'), maxFutureSkewMs: 0 },
    });
    const started = performance.now();
    await sink.start();
    try {
      await waitFor(() => sink.stats().assignments > 0, {
        timeoutMs: 60_000,
        description: 'partitions assigned',
      });
      const assigned = performance.now();
      await waitFor(
        async () => {
          const stored = await db.pool.query<{ partition: number; next_offset: string }>(
            'SELECT partition, next_offset::text AS next_offset FROM backbone.consumer_offsets WHERE group_id = $1',
            [groupId],
          );
          const byPartition = new Map(stored.rows.map((row) => [row.partition, BigInt(row.next_offset)]));
          return ends.every((end) => byPartition.get(end.partition) === end.high);
        },
        { timeoutMs: 240_000, intervalMs: 100, description: 'every partition committed to its end' },
      );
      const seconds = (performance.now() - started) / 1000;
      const afterJoin = (performance.now() - assigned) / 1000;
      console.info(
        `sink throughput: ${TOTAL} pre-produced records (${poisonCount} poison) in ${seconds.toFixed(2)} s = ${Math.round(TOTAL / seconds)} records/s with the group join, ${Math.round(TOTAL / afterJoin)} records/s after it (${afterJoin.toFixed(2)} s), ${sink.stats().committedSlices} transactions`,
      );
    } finally {
      await sink.stop();
    }

    const rows = await db.pool.query<{ symbol: string; ts: Date }>('SELECT symbol, ts FROM market_data.bars');
    expect(rows.rows.length).toBe(validKeys.length);
    expect(new Set(rows.rows.map((row) => barKey(row.symbol, row.ts)))).toEqual(new Set(validKeys));

    const deadLetters = await readTopic(kafka.client, names.dlq, poisonCount, 60_000);
    expect(deadLetters.length).toBe(poisonCount);
    const reasons = new Map<string, number>();
    for (const record of deadLetters) {
      const reason = record.headers[DEAD_LETTER_HEADERS.reason] ?? 'none';
      reasons.set(reason, (reasons.get(reason) ?? 0) + 1);
    }
    expect(Object.fromEntries(reasons)).toEqual({
      not_json: Math.ceil(poisonCount / 4),
      ohlc_inconsistent: Math.ceil((poisonCount - 1) / 4),
      ts_in_future: Math.ceil((poisonCount - 2) / 4),
      price_not_positive: Math.ceil((poisonCount - 3) / 4),
    });
    expect(sink.stats()).toMatchObject({
      inserted: validKeys.length,
      deadLettered: poisonCount,
      unchanged: 0,
    });
  },
);
