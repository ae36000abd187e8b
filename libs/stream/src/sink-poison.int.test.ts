import { createHash } from 'node:crypto';
import {
  DEAD_LETTER_HEADERS,
  deadLetterEnvelopeSchema,
  decodeBytes,
  ingestRunEventSchema,
  type DeadLetterEnvelope,
} from '@backbone/contracts';
import { storageMode, type StorageMode } from '@backbone/db';
import type { ConsumedMessage } from '@backbone/kafka';
import { uniqueName, waitFor } from '@backbone/testing';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BarSink, type BarSinkOptions } from './bar-sink.ts';
import { barKey, barRecord, barRulesNow, validBar } from './test-support/bars.ts';
import {
  createMigratedDatabase,
  createTestKafka,
  testLogger,
  type TestDatabase,
  type TestKafka,
} from './test-support/stack.ts';
import { readTopic, recordCount } from './test-support/topics.ts';

/*
 * Issue 14 §1: no record can block a partition. Each test puts one kind of poison among valid
 * bars of the same symbol and proves that the valid bars are stored, the poison is dead-lettered
 * with its coordinates, the stored offset reaches the end of the partition, and the sink never
 * failed an attempt (on the old code each of them retried its slice forever).
 */

let db: TestDatabase;
/** The same on plain PostgreSQL, for what depends on the storage mode. */
let plainDb: TestDatabase;
let kafka: TestKafka;

beforeAll(async () => {
  [db, plainDb, kafka] = await Promise.all([
    createMigratedDatabase('stream_poison'),
    createMigratedDatabase('stream_poison_plain', { server: 'plain' }),
    createTestKafka(),
  ]);
});

afterAll(async () => {
  await kafka.dispose();
  await Promise.all([db.drop(), plainDb.drop()]);
});

interface Topics {
  bars: string;
  dlq: string;
  events: string;
}

async function topics(dlqConfigs: Record<string, string> = {}): Promise<Topics> {
  return {
    bars: await kafka.topic('bars'),
    dlq: await kafka.topic('bars_dlq', 1, dlqConfigs),
    events: await kafka.topic('events'),
  };
}

function sinkFor(names: Topics, groupId: string, overrides: Partial<BarSinkOptions> = {}): BarSink {
  return new BarSink({
    kafka: kafka.client,
    pool: db.pool,
    logger: testLogger('sink-poison-test'),
    groupId,
    topic: names.bars,
    deadLetterTopic: names.dlq,
    ingestEventsTopic: names.events,
    maxBatchRecords: 500,
    maxBatchBytes: 1_048_576,
    maxMessageBytes: 1_048_576,
    rules: { now: barRulesNow, maxFutureSkewMs: 60_000 },
    // Fast retries: on the old code the slice retried forever; here a retry would show in the stats.
    retryBackoff: { initialMs: 50, maxMs: 200 },
    ...overrides,
  });
}

async function storedOffset(groupId: string, topic: string, pool = db.pool): Promise<bigint> {
  const result = await pool.query<{ next_offset: string }>(
    'SELECT next_offset::text AS next_offset FROM backbone.consumer_offsets WHERE group_id = $1 AND topic = $2 AND partition = 0',
    [groupId, topic],
  );
  return BigInt(result.rows[0]?.next_offset ?? -1);
}

async function endOffset(topic: string): Promise<bigint> {
  const [partition] = await kafka.admin.fetchTopicOffsets(topic);
  return partition?.high ?? 0n;
}

async function storedKeys(symbol: string, pool = db.pool): Promise<string[]> {
  const result = await pool.query<{ symbol: string; ts: Date }>(
    'SELECT symbol, ts FROM market_data.bars WHERE symbol = $1',
    [symbol],
  );
  return result.rows.map((row) => barKey(row.symbol, row.ts)).sort();
}

/**
 * How many tables market_data.bars is stored in: its partitions on plain PostgreSQL, its chunks
 * on TimescaleDB. Checks first that the database is in the mode the test expects.
 */
async function storagePieces(pool: pg.Pool, expected: StorageMode): Promise<number> {
  expect(await storageMode(pool)).toBe(expected);
  const result = await pool.query<{ count: number }>(
    expected === 'timescaledb'
      ? `SELECT count(*)::int AS count FROM timescaledb_information.chunks
         WHERE hypertable_schema = 'market_data' AND hypertable_name = 'bars'`
      : `SELECT count(*)::int AS count FROM backbone.time_partitions('market_data.bars')`,
  );
  return result.rows[0]?.count ?? 0;
}

/**
 * Runs the sink until it stored the whole partition, stops it and returns its stats. Read after
 * stop(): the database shows a commit a moment before the sink has counted it.
 */
async function drain(
  sink: BarSink,
  groupId: string,
  topic: string,
  pool = db.pool,
): Promise<ReturnType<BarSink['stats']>> {
  await sink.start();
  try {
    const end = await endOffset(topic);
    await waitFor(async () => (await storedOffset(groupId, topic, pool)) === end, {
      timeoutMs: 30_000,
      description: `the sink to store the partition up to offset ${end} (a poison record would block it)`,
    });
  } finally {
    await sink.stop();
  }
  return sink.stats();
}

function envelopeOf(record: ConsumedMessage): DeadLetterEnvelope {
  return deadLetterEnvelopeSchema.parse(JSON.parse(record.value?.toString('utf8') ?? ''));
}

describe('BarSink: poison records do not block a partition', () => {
  // The year-0 bar must not create storage in either mode (a partition or a chunk of its own).
  it.each([
    { server: 'TimescaleDB', mode: 'timescaledb' },
    { server: 'plain PostgreSQL', mode: 'postgres-partitioned' },
  ] as const)(
    'finding 1.1 on $server: a bar in year 0 among 50 valid bars of the same symbol is dead-lettered (ts_out_of_range), the valid ones are stored, no storage is made for year 0',
    async ({ mode }) => {
      const pool = mode === 'timescaledb' ? db.pool : plainDb.pool;
      const names = await topics();
      const groupId = uniqueName('sink');
      const symbol = 9400;
      const before = Array.from({ length: 50 }, (_, minute) => validBar(symbol, minute));
      const behind = Array.from({ length: 10 }, (_, minute) => validBar(symbol, 100 + minute));
      const yearZero = JSON.stringify(validBar(symbol, 60, { ts: '0000-01-01T00:00:00Z' }));
      const piecesBefore = await storagePieces(pool, mode);
      // One send: the poison shares a slice with the 50 bars in front of it and the 10 behind.
      await kafka.producer.send(names.bars, [
        ...before.map(barRecord),
        { key: `SYM${symbol}`, value: yearZero },
        ...behind.map(barRecord),
      ]);

      const stats = await drain(sinkFor(names, groupId, { pool }), groupId, names.bars, pool);

      expect(await storedKeys(`SYM${symbol}`, pool)).toEqual(
        [...before, ...behind].map((bar) => barKey(bar.symbol, bar.ts)).sort(),
      );
      const [deadLetter] = await readTopic(kafka.client, names.dlq, 1);
      expect(await recordCount(kafka.admin, names.dlq)).toBe(1);
      expect(deadLetter?.headers[DEAD_LETTER_HEADERS.reason]).toBe('ts_out_of_range');
      expect(deadLetter === undefined ? undefined : envelopeOf(deadLetter)).toMatchObject({
        originalTopic: names.bars,
        partition: 0,
        offset: '50',
        reason: 'ts_out_of_range',
        payload: { encoding: 'utf8', data: yearZero },
      });
      expect(stats).toMatchObject({ failedAttempts: 0, deadLettered: 1, inserted: 60, lastError: null });
      // The valid bars' partition or chunk at most (their two hours lie in one), nothing for year 0.
      expect((await storagePieces(pool, mode)) - piecesBefore).toBeLessThanOrEqual(1);
    },
  );

  it('finding 1.2: a bar the contract passes but the database refuses is isolated by bisection and dead-lettered with the database error, the rest of its slice commits', async () => {
    const names = await topics();
    const groupId = uniqueName('sink');
    const symbol = 9410;
    // A rule only the database knows (as a column range or a new constraint would be).
    await db.pool.query(
      `ALTER TABLE market_data.bars ADD CONSTRAINT test_poison_volume CHECK (NOT (symbol = 'SYM${symbol}' AND volume >= 1000000))`,
    );
    try {
      const bars = Array.from({ length: 40 }, (_, minute) =>
        validBar(symbol, minute, minute === 17 ? { volume: 5_000_000 } : {}),
      );
      await kafka.producer.send(names.bars, bars.map(barRecord));

      const stats = await drain(sinkFor(names, groupId), groupId, names.bars);

      const stored = bars.filter((_, minute) => minute !== 17);
      expect(await storedKeys(`SYM${symbol}`)).toEqual(
        stored.map((bar) => barKey(bar.symbol, bar.ts)).sort(),
      );
      const [deadLetter] = await readTopic(kafka.client, names.dlq, 1);
      expect(await recordCount(kafka.admin, names.dlq)).toBe(1);
      const envelope = deadLetter === undefined ? undefined : envelopeOf(deadLetter);
      expect(envelope).toMatchObject({
        originalTopic: names.bars,
        partition: 0,
        offset: '17',
        errorClass: 'DatabaseRejectedError',
        reason: 'database_rejected',
        payload: { encoding: 'utf8', data: JSON.stringify(bars[17]) },
      });
      expect(envelope?.message).toMatch(/test_poison_volume.*SQLSTATE 23514/);
      expect(stats).toMatchObject({ failedAttempts: 0, deadLettered: 1, inserted: 39 });
      // The slice's ingest event counts the refusal like any other rejection.
      const events = await db.pool.query<{ payload: unknown }>(
        'SELECT payload FROM backbone.outbox WHERE topic = $1',
        [names.events],
      );
      const parsed = events.rows.map((row) => ingestRunEventSchema.parse(row.payload));
      expect(parsed.reduce((sum, event) => sum + (event.rejectedByReason['database_rejected'] ?? 0), 0)).toBe(
        1,
      );
    } finally {
      await db.pool.query('ALTER TABLE market_data.bars DROP CONSTRAINT test_poison_volume');
    }
  });

  it('finding 1.3: a ~1 MB record whose dead letter would exceed the DLQ limit is dead-lettered truncated, its whole bytes kept in rejected_records, and the partition moves on', async () => {
    const names = await topics();
    const groupId = uniqueName('sink');
    const symbol = 9420;
    // Fits the source topic (under the broker's ~1 MiB), but as base64 in an envelope it would not.
    const huge = Buffer.alloc(1_000_000, 0xff);
    const bars = Array.from({ length: 5 }, (_, minute) => validBar(symbol, minute));
    await kafka.producer.send(names.bars, [{ key: `SYM${symbol}`, value: huge }]);
    await kafka.producer.send(names.bars, bars.map(barRecord));

    const stats = await drain(sinkFor(names, groupId), groupId, names.bars);

    expect(await storedKeys(`SYM${symbol}`)).toEqual(bars.map((bar) => barKey(bar.symbol, bar.ts)).sort());
    const [deadLetter] = await readTopic(kafka.client, names.dlq, 1);
    const sha256 = createHash('sha256').update(huge).digest('hex');
    const envelope = deadLetter === undefined ? undefined : envelopeOf(deadLetter);
    expect(envelope).toMatchObject({
      offset: '0',
      reason: 'not_json',
      payloadTruncated: true,
      payloadBytes: huge.length,
      payloadSha256: sha256,
    });
    const prefix = envelope === undefined ? null : decodeBytes(envelope.payload);
    expect(prefix !== null && huge.subarray(0, prefix.length).equals(prefix)).toBe(true);
    const kept = await db.pool.query<{
      source_offset: string;
      payload: Buffer;
      payload_bytes: number;
      reason: string;
    }>(
      'SELECT source_offset::text, payload, payload_bytes, reason FROM backbone.rejected_records WHERE source_topic = $1',
      [names.bars],
    );
    expect(kept.rows).toHaveLength(1);
    expect(kept.rows[0]).toMatchObject({
      source_offset: '0',
      payload_bytes: huge.length,
      reason: 'not_json',
    });
    expect(kept.rows[0]?.payload.equals(huge)).toBe(true);
    expect(stats).toMatchObject({ failedAttempts: 0, deadLettered: 1, inserted: 5 });
  });

  it("finding 1.3: a slice's dead letters are split into sends under the DLQ topic's max.message.bytes", async () => {
    const limit = 65_536;
    const names = await topics({ 'max.message.bytes': String(limit) });
    const groupId = uniqueName('sink');
    const symbol = 9430;
    const bars = Array.from({ length: 5 }, (_, minute) => validBar(symbol, minute));
    // Twelve 20 kB records that are not JSON: 240 kB of dead letters from one slice.
    const poison = Array.from({ length: 12 }, (_, index) => ({
      key: `SYM${symbol}`,
      value: `${String(index).padStart(2, '0')}${'x'.repeat(20_000)}`,
    }));
    await kafka.producer.send(names.bars, [...poison, ...bars.map(barRecord)]);

    const stats = await drain(sinkFor(names, groupId, { deadLetterMaxBytes: limit }), groupId, names.bars);

    const deadLetters = await readTopic(kafka.client, names.dlq, poison.length);
    expect(await recordCount(kafka.admin, names.dlq)).toBe(poison.length);
    expect(
      deadLetters.map((record) => {
        const { offset, payload, payloadTruncated } = envelopeOf(record);
        return { offset, payload, payloadTruncated };
      }),
    ).toEqual(
      poison.map((record, offset) => ({
        offset: String(offset),
        payload: { encoding: 'utf8', data: record.value },
        payloadTruncated: undefined,
      })),
    );
    expect(await storedKeys(`SYM${symbol}`)).toHaveLength(bars.length);
    expect(stats).toMatchObject({ failedAttempts: 0, deadLettered: poison.length });
  });
});

describe('BarSink: a transient database error blames no record', () => {
  it('a lock timeout (SQLSTATE 55P03, transient) pauses and retries the slice: nothing is dead-lettered, everything is stored once', async () => {
    const names = await topics();
    const groupId = uniqueName('sink');
    const symbol = 9440;
    const bars = Array.from({ length: 20 }, (_, minute) => validBar(symbol, minute));
    // The sink's connections give up waiting for a lock after 200 ms (55P03), like a busy table.
    const impatientPool = new pg.Pool({ connectionString: db.url, max: 4, options: '-c lock_timeout=200' });
    impatientPool.on('error', () => undefined);
    const holder = await db.pool.connect();
    const sink = sinkFor(names, groupId, { pool: impatientPool });
    try {
      await holder.query('BEGIN');
      await holder.query('LOCK TABLE market_data.bars IN ACCESS EXCLUSIVE MODE');
      await kafka.producer.send(names.bars, bars.map(barRecord));
      await sink.start();
      await waitFor(() => sink.stats().failedAttempts >= 2, {
        timeoutMs: 30_000,
        description: 'the sink to fail on the lock at least twice',
      });
      expect(sink.stats().lastError).toMatch(/lock/);
      await holder.query('ROLLBACK');
      const end = await endOffset(names.bars);
      await waitFor(async () => (await storedOffset(groupId, names.bars)) === end, {
        timeoutMs: 30_000,
        description: 'the sink to store the partition once the lock is gone',
      });
      expect(await storedKeys(`SYM${symbol}`)).toEqual(bars.map((bar) => barKey(bar.symbol, bar.ts)).sort());
      expect(await recordCount(kafka.admin, names.dlq)).toBe(0);
      await sink.stop(); // the database shows the commit a moment before the sink counted it
      expect(sink.stats()).toMatchObject({ deadLettered: 0, inserted: bars.length, lastError: null });
    } finally {
      await holder.query('ROLLBACK').catch(() => undefined);
      holder.release();
      await sink.stop();
      await impatientPool.end();
    }
  });
});
