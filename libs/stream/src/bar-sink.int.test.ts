import { DEAD_LETTER_HEADERS, deadLetterEnvelopeSchema, ingestRunEventSchema } from '@backbone/contracts';
import { uniqueName, waitFor } from '@backbone/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BarSink } from './bar-sink.ts';
import { barKey, barRecord, barRulesNow, validBar } from './test-support/bars.ts';
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

beforeAll(async () => {
  [db, kafka] = await Promise.all([createMigratedDatabase('stream_sink'), createTestKafka()]);
});

afterAll(async () => {
  await kafka.dispose();
  await db.drop();
});

interface Topics {
  bars: string;
  dlq: string;
  events: string;
}

async function topics(partitions = 1): Promise<Topics> {
  return {
    bars: await kafka.topic('bars', partitions),
    dlq: await kafka.topic('bars_dlq'),
    events: await kafka.topic('events'),
  };
}

function sinkFor(
  names: Topics,
  groupId: string,
  overrides: Partial<ConstructorParameters<typeof BarSink>[0]> = {},
): BarSink {
  return new BarSink({
    kafka: kafka.client,
    pool: db.pool,
    logger: testLogger('bar-sink-test'),
    groupId,
    topic: names.bars,
    deadLetterTopic: names.dlq,
    ingestEventsTopic: names.events,
    maxBatchRecords: 500,
    maxBatchBytes: 1_048_576,
    maxMessageBytes: 1024,
    rules: { now: barRulesNow, maxFutureSkewMs: 60_000 },
    ...overrides,
  });
}

/** The stored next offset of a partition, or -1 without a row. */
async function storedOffset(groupId: string, topic: string, partition = 0): Promise<bigint> {
  const result = await db.pool.query<{ next_offset: string }>(
    'SELECT next_offset::text AS next_offset FROM backbone.consumer_offsets WHERE group_id = $1 AND topic = $2 AND partition = $3',
    [groupId, topic, partition],
  );
  return BigInt(result.rows[0]?.next_offset ?? -1);
}

async function storedBars(
  symbols: readonly string[],
): Promise<Map<string, { close: number; revision: number }>> {
  const result = await db.pool.query<{ symbol: string; ts: Date; close: number; revision: number }>(
    'SELECT symbol, ts, close, revision FROM market_data.bars WHERE symbol = ANY($1::text[])',
    [symbols],
  );
  return new Map(
    result.rows.map((row) => [barKey(row.symbol, row.ts), { close: row.close, revision: row.revision }]),
  );
}

async function endOffset(topic: string, partition = 0): Promise<bigint> {
  const offsets = await kafka.admin.fetchTopicOffsets(topic);
  return offsets.find((entry) => entry.partition === partition)?.high ?? 0n;
}

describe('BarSink: bad input', () => {
  it('dead-letters every invalid record with its reason, stores the valid ones exactly once and keeps going', async () => {
    const names = await topics();
    const groupId = uniqueName('sink');
    const symbol = 9100;
    const sym = `SYM${symbol}`;
    const valid = Array.from({ length: 10 }, (_, minute) => validBar(symbol, minute));
    const duplicateLater = validBar(symbol, 3, { close: validBar(symbol, 3).open }); // same key as valid[3], different close
    const poison: { value: string | Buffer; reason: string }[] = [
      { value: Buffer.from([0xc3, 0x28, 0xff]), reason: 'not_json' },
      { value: '{"symbol":', reason: 'not_json' },
      { value: '[1,2,3]', reason: 'shape_invalid' },
      {
        value: JSON.stringify(validBar(symbol, 20)).replace(/"open":[0-9.]+/, '"open":NaN'),
        reason: 'not_json',
      },
      { value: JSON.stringify(validBar(symbol, 21, { open: -1 })), reason: 'price_not_positive' },
      { value: JSON.stringify(validBar(symbol, 22, { high: 90, low: 110 })), reason: 'ohlc_inconsistent' },
      { value: JSON.stringify(validBar(symbol, 23, { ts: '2030-01-01T00:00:00Z' })), reason: 'ts_in_future' },
      {
        value: JSON.stringify({ ...validBar(symbol, 24), pad: 'x'.repeat(2000) }),
        reason: 'message_too_large',
      },
    ];
    // One send, so the records share a fetch: poison in the middle of valid records.
    await kafka.producer.send(names.bars, [
      ...valid.slice(0, 5).map(barRecord),
      ...poison.map(({ value }) => ({ key: sym, value })),
      ...valid.slice(5).map(barRecord),
      barRecord(duplicateLater),
    ]);

    const sink = sinkFor(names, groupId);
    await sink.start();
    try {
      const end = await endOffset(names.bars);
      await waitFor(async () => (await storedOffset(groupId, names.bars)) === end, {
        timeoutMs: 30_000,
        description: 'the sink to commit the whole partition',
      });

      const stored = await storedBars([sym]);
      expect([...stored.keys()].sort()).toEqual(valid.map((bar) => barKey(bar.symbol, bar.ts)).sort());
      // The same key twice in one batch: the later record wins.
      expect(stored.get(barKey(sym, duplicateLater.ts))?.close).toBe(duplicateLater.close);

      const deadLetters = await readTopic(kafka.client, names.dlq, poison.length);
      expect(await recordCount(kafka.admin, names.dlq)).toBe(poison.length);
      const firstPoisonOffset = 5n;
      expect(
        deadLetters.map((record) => [
          record.headers[DEAD_LETTER_HEADERS.originalOffset],
          record.headers[DEAD_LETTER_HEADERS.reason],
        ]),
      ).toEqual(poison.map(({ reason }, index) => [String(firstPoisonOffset + BigInt(index)), reason]));
      for (const record of deadLetters) {
        expect(record.key?.toString()).toBe(sym);
        expect(record.headers[DEAD_LETTER_HEADERS.originalTopic]).toBe(names.bars);
        expect(record.headers[DEAD_LETTER_HEADERS.originalPartition]).toBe('0');
        const envelope = deadLetterEnvelopeSchema.parse(JSON.parse(record.value?.toString() ?? ''));
        expect(envelope.offset).toBe(record.headers[DEAD_LETTER_HEADERS.originalOffset]);
      }

      // Every committed slice wrote one contract-valid ingest event to the outbox.
      const events = await db.pool.query<{
        topic: string;
        key: string;
        payload: unknown;
        headers: Record<string, string> | null;
      }>('SELECT topic, key, payload, headers FROM backbone.outbox WHERE topic = $1 ORDER BY id', [
        names.events,
      ]);
      const parsed = events.rows.map((row) => ingestRunEventSchema.parse(row.payload));
      expect(events.rows.every((row, index) => row.key === parsed[index]?.runId)).toBe(true);
      // The trace context travels in the row's headers too, which the relay publishes.
      expect(
        events.rows.every(
          (row, index) => row.headers?.traceparent === parsed[index]?.traceContext.traceparent,
        ),
      ).toBe(true);
      const total = (key: 'inserted' | 'rejected') =>
        parsed.reduce((sum, event) => sum + event.counts[key], 0);
      expect(total('inserted')).toBe(valid.length);
      expect(total('rejected')).toBe(poison.length);

      // A bar already stored is idempotent (unchanged), and the partition is not stuck.
      const after = validBar(symbol, 30);
      await kafka.producer.send(names.bars, [barRecord(validBar(symbol, 0)), barRecord(after)]);
      const end2 = await endOffset(names.bars);
      await waitFor(async () => (await storedOffset(groupId, names.bars)) === end2, {
        description: 'the sink to commit the records sent afterwards',
      });
      const again = await storedBars([sym]);
      expect(again.size).toBe(valid.length + 1);
      expect(again.get(barKey(sym, validBar(symbol, 0).ts))?.revision).toBe(0);
      expect(sink.stats()).toMatchObject({ deadLettered: poison.length, unchanged: 1, superseded: 1 });
      // Kafka's group offset follows the database (for standard lag tools).
      const [kafkaOffset] = await kafka.admin.fetchGroupOffsets(groupId, [names.bars]);
      expect(kafkaOffset?.offset).toBe(end2);
    } finally {
      await sink.stop();
    }
  });
});

describe('BarSink: restarts and rebalances', () => {
  it('reads a partition without a stored offset from the start, whatever Kafka says', async () => {
    const names = await topics();
    const groupId = uniqueName('sink');
    const bars = Array.from({ length: 20 }, (_, minute) => validBar(9150, minute));
    await kafka.producer.send(names.bars, bars.map(barRecord));
    // The group's offset in Kafka says 15 (as after a database restore), the database says nothing.
    const other = kafka.client.consumer({ groupId });
    let committed = false;
    await other.connect();
    await other.subscribe([names.bars], { fromBeginning: true });
    await other.run({
      eachBatch: async (batch) => {
        if (committed) return;
        await other.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: 15n }]);
        committed = true;
      },
    });
    await waitFor(() => committed, { timeoutMs: 30_000, description: 'the Kafka offset set to 15' });
    await other.close();

    const sink = sinkFor(names, groupId);
    await sink.start();
    try {
      await waitFor(async () => (await storedOffset(groupId, names.bars)) === 20n, {
        timeoutMs: 30_000,
        description: 'the partition committed',
      });
      expect((await storedBars(['SYM9150'])).size).toBe(bars.length);
    } finally {
      await sink.stop();
    }
  });

  it('resumes at the stored offset: a new member of the group applies nothing twice', async () => {
    const names = await topics(3);
    const groupId = uniqueName('sink');
    const first = Array.from({ length: 300 }, (_, i) => validBar(9200 + (i % 3), i));
    await kafka.producer.send(names.bars, first.map(barRecord));
    const sinkA = sinkFor(names, groupId);
    await sinkA.start();
    await waitFor(async () => (await storedBars(['SYM9200', 'SYM9201', 'SYM9202'])).size === first.length, {
      timeoutMs: 30_000,
      description: 'the first 300 bars',
    });
    // A second member joins (rebalance) while more records arrive, then the first leaves.
    const sinkB = sinkFor(names, groupId);
    await sinkB.start();
    const second = Array.from({ length: 300 }, (_, i) => validBar(9200 + (i % 3), 1000 + i));
    await kafka.producer.send(names.bars, second.map(barRecord));
    await sinkA.stop();
    const third = Array.from({ length: 300 }, (_, i) => validBar(9200 + (i % 3), 2000 + i));
    await kafka.producer.send(names.bars, third.map(barRecord));
    try {
      await waitFor(
        async () => {
          for (const partition of [0, 1, 2]) {
            if (
              (await storedOffset(groupId, names.bars, partition)) !==
              (await endOffset(names.bars, partition))
            )
              return false;
          }
          return true;
        },
        { timeoutMs: 40_000, description: 'every partition committed' },
      );
      const stored = await storedBars(['SYM9200', 'SYM9201', 'SYM9202']);
      expect(stored.size).toBe(900);
      // Every record was applied once: nothing was ever rewritten.
      expect([...stored.values()].every((row) => row.revision === 0)).toBe(true);
      const unchanged = sinkA.stats().unchanged + sinkB.stats().unchanged;
      const inserted = sinkA.stats().inserted + sinkB.stats().inserted;
      expect({ inserted, unchanged }).toEqual({ inserted: 900, unchanged: 0 });
    } finally {
      await sinkB.stop();
    }
  });
});

describe('BarSink: compressed chunks (TimescaleDB)', () => {
  it('stores late bars and corrections into a chunk the compression has already compressed', async () => {
    const mode = await db.pool.query<{ mode: string }>(
      'SELECT mode FROM backbone.schema_migrations ORDER BY version LIMIT 1',
    );
    expect(mode.rows).toEqual([{ mode: 'timescaledb' }]);
    const names = await topics();
    const groupId = uniqueName('sink');
    const history = Array.from({ length: 100 }, (_, minute) => validBar(9600, minute));
    await kafka.producer.send(names.bars, history.map(barRecord));
    const sink = sinkFor(names, groupId);
    await sink.start();
    try {
      await waitFor(async () => (await storedOffset(groupId, names.bars)) === 100n, {
        timeoutMs: 30_000,
        description: 'the history committed',
      });
      // What the compression policy does to a chunk older than compressAfterDays.
      const chunk = await db.pool.query<{ chunk: string }>(
        `SELECT compress_chunk(chunk_schema || '.' || chunk_name)::text AS chunk FROM timescaledb_information.chunks
         WHERE hypertable_name = 'bars' AND range_start <= $1 AND $1 < range_end`,
        [history[0]?.ts],
      );
      expect(chunk.rows).toHaveLength(1);

      // A re-send with ten corrected closes, ten bars that arrive late and ten unchanged.
      const corrections = history.slice(10, 20).map((bar) => ({ ...bar, close: bar.close + 0.125 }));
      const late = Array.from({ length: 10 }, (_, i) => validBar(9600, 100 + i));
      const resent = history.slice(50, 60);
      await kafka.producer.send(names.bars, [...corrections, ...late, ...resent].map(barRecord));
      await waitFor(async () => (await storedOffset(groupId, names.bars)) === 130n, {
        timeoutMs: 30_000,
        description: 'the re-send committed',
      });
      const stored = await storedBars(['SYM9600']);
      expect(stored.size).toBe(110);
      for (const bar of corrections) {
        expect(stored.get(barKey(bar.symbol, bar.ts))).toEqual({ close: bar.close, revision: 1 });
      }
      for (const bar of [...late, ...resent]) {
        expect(stored.get(barKey(bar.symbol, bar.ts))).toEqual({ close: bar.close, revision: 0 });
      }
      expect(sink.stats()).toMatchObject({ inserted: 110, updated: 10, unchanged: 10 });
      const state = await db.pool.query<{ is_compressed: boolean }>(
        `SELECT is_compressed FROM timescaledb_information.chunks WHERE chunk_schema || '.' || chunk_name = $1`,
        [chunk.rows[0]?.chunk],
      );
      expect(state.rows).toEqual([{ is_compressed: true }]);
    } finally {
      await sink.stop();
    }
  });
});
