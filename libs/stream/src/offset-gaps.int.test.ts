import { uniqueName, waitFor } from '@backbone/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BarSink, type BarSinkOptions } from './bar-sink.ts';
import { listOffsetGaps, resolveOffsetGap, type OffsetGap } from './offset-gaps.ts';
import { barRecord, validBar } from './test-support/bars.ts';
import {
  createMigratedDatabase,
  createTestKafka,
  testLogger,
  type TestDatabase,
  type TestKafka,
} from './test-support/stack.ts';

let db: TestDatabase;
let kafka: TestKafka;

beforeAll(async () => {
  [db, kafka] = await Promise.all([createMigratedDatabase('stream_gaps'), createTestKafka()]);
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

function sinkFor(names: Topics, groupId: string, overrides: Partial<BarSinkOptions> = {}): BarSink {
  return new BarSink({
    kafka: kafka.client,
    pool: db.pool,
    logger: testLogger('offset-gaps-test'),
    groupId,
    topic: names.bars,
    deadLetterTopic: names.dlq,
    ingestEventsTopic: names.events,
    maxBatchRecords: 500,
    maxBatchBytes: 1_048_576,
    maxMessageBytes: 4096,
    gapPollIntervalMs: 100,
    ...overrides,
  });
}

async function storedCount(symbol: string): Promise<number> {
  const result = await db.pool.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM market_data.bars WHERE symbol = $1',
    [symbol],
  );
  return result.rows[0]?.n ?? 0;
}

async function storedOffset(groupId: string, topic: string, partition: number): Promise<bigint | undefined> {
  const result = await db.pool.query<{ next_offset: string }>(
    'SELECT next_offset::text AS next_offset FROM backbone.consumer_offsets WHERE group_id = $1 AND topic = $2 AND partition = $3',
    [groupId, topic, partition],
  );
  const row = result.rows[0];
  return row === undefined ? undefined : BigInt(row.next_offset);
}

async function gapsOf(groupId: string): Promise<OffsetGap[]> {
  return (await listOffsetGaps(db.pool, { unresolvedOnly: false })).filter((gap) => gap.groupId === groupId);
}

/** Deletes the topic and creates it again with the same name (Kafka deletes asynchronously). */
async function recreateTopic(topic: string, partitions: number): Promise<void> {
  await kafka.admin.deleteTopics([topic]);
  await waitFor(async () => !(await kafka.admin.listTopics()).includes(topic), {
    timeoutMs: 30_000,
    description: `topic ${topic} deleted`,
  });
  await waitFor(
    async () => {
      // Refused while the old topic is still marked for deletion; a timed-out create may have worked.
      await kafka.admin
        .createTopics([{ name: topic, partitions, replicationFactor: 1, configs: {} }])
        .catch(() => false);
      return (await kafka.admin.listTopics()).includes(topic);
    },
    { timeoutMs: 30_000, description: `topic ${topic} created again` },
  );
}

/**
 * The measured scenario of issue 14 §2: 200 bars stored on partition 0 (stored next offset 200),
 * the topic deleted and recreated, new bars produced, the sink started again. Partition 1 never
 * had a stored offset, so it is not a gap and must keep flowing.
 */
async function storedThenRecreated(symbol: number): Promise<{ names: Topics; groupId: string }> {
  const names: Topics = {
    bars: await kafka.topic('gap_bars', 2),
    dlq: await kafka.topic('gap_dlq'),
    events: await kafka.topic('gap_events'),
  };
  const groupId = uniqueName('gap_sink');
  const before = Array.from({ length: 200 }, (_, minute) => validBar(symbol, minute));
  await kafka.producer.send(
    names.bars,
    before.map((bar) => ({ ...barRecord(bar), partition: 0 })),
  );
  const first = sinkFor(names, groupId);
  await first.start();
  try {
    await waitFor(async () => (await storedOffset(groupId, names.bars, 0)) === 200n, {
      timeoutMs: 30_000,
      description: 'the 200 bars stored (next offset 200 on partition 0)',
    });
  } finally {
    await first.stop();
  }
  await recreateTopic(names.bars, 2);
  const after = Array.from({ length: 10 }, (_, minute) => validBar(symbol, 1000 + minute));
  const other = Array.from({ length: 5 }, (_, minute) => validBar(symbol + 1, minute));
  await kafka.producer.send(names.bars, [
    ...after.map((bar) => ({ ...barRecord(bar), partition: 0 })),
    ...other.map((bar) => ({ ...barRecord(bar), partition: 1 })),
  ]);
  return { names, groupId };
}

describe('offset gaps', { timeout: 180_000 }, () => {
  it('finding 2.1: a topic deleted and recreated under a stored offset is a recorded gap, held (not fenced in a loop) until resolved, then its new bars are stored', async () => {
    const symbol = 9600;
    const { names, groupId } = await storedThenRecreated(symbol);
    const sink = sinkFor(names, groupId);
    await sink.start();
    try {
      // Partition 1 has no gap: it flows while partition 0 is held.
      await waitFor(async () => (await storedCount(`SYM${symbol + 1}`)) === 5, {
        timeoutMs: 30_000,
        description: 'the 5 bars of the other partition stored',
      });
      const [gap] = await waitFor(
        async () => {
          const gaps = await gapsOf(groupId);
          return gaps.length > 0 ? gaps : undefined;
        },
        { timeoutMs: 10_000, description: 'the gap recorded' },
      );
      expect(gap).toMatchObject({
        topic: names.bars,
        partition: 0,
        kind: 'beyond_log_end',
        storedOffset: 200n,
        logStart: 0n,
        logEnd: 10n,
        resolvedAt: null,
      });
      const stats = sink.stats();
      // Nothing read from the held partition: no record discarded by the fence, none stored.
      expect(stats.fenced).toBe(0);
      expect(await storedCount(`SYM${symbol}`)).toBe(200);
      expect(stats.offsetGaps).toEqual([
        expect.objectContaining({ topic: names.bars, partition: 0, storedOffset: '200', logEnd: '10' }),
      ]);
      expect(stats.offsetGaps[0]?.message).toContain(`${names.bars}[0]`);
      expect(stats.offsetGaps[0]?.message).toContain('stored next offset 200 is beyond the log end 10');

      const resolved = await resolveOffsetGap(db.pool, kafka.admin, {
        groupId,
        topic: names.bars,
        partition: 0,
        to: 'earliest',
        resolvedBy: 'operator-test',
      });
      expect(resolved).toMatchObject({
        resolution: 'earliest',
        resolvedOffset: 0n,
        resolvedBy: 'operator-test',
      });
      await waitFor(async () => (await storedCount(`SYM${symbol}`)) === 210, {
        timeoutMs: 30_000,
        description: 'the 10 bars of the recreated topic stored after the resolution',
      });
      expect(await storedOffset(groupId, names.bars, 0)).toBe(10n);
      expect(sink.stats().offsetGaps).toEqual([]);
      expect(sink.stats().fenced).toBe(0);
    } finally {
      await sink.stop();
    }
  });

  it('finding 2.1: with offsetOutOfRange=earliest the gap is recorded as resolved by the policy and the new bars are stored', async () => {
    const symbol = 9610;
    const { names, groupId } = await storedThenRecreated(symbol);
    const sink = sinkFor(names, groupId, { offsetOutOfRange: 'earliest' });
    await sink.start();
    try {
      await waitFor(async () => (await storedCount(`SYM${symbol}`)) === 210, {
        timeoutMs: 30_000,
        description: 'the 10 bars of the recreated topic stored',
      });
      expect(await gapsOf(groupId)).toEqual([
        expect.objectContaining({
          topic: names.bars,
          partition: 0,
          kind: 'beyond_log_end',
          storedOffset: 200n,
          logEnd: 10n,
          resolution: 'earliest',
          resolvedOffset: 0n,
          resolvedBy: 'policy:earliest',
        }),
      ]);
      expect(sink.stats().fenced).toBe(0);
      expect(sink.stats().offsetGaps).toEqual([]);
    } finally {
      await sink.stop();
    }
  });

  it('finding 2.1: a stored offset that retention passed (before the log start) is a recorded gap naming the deleted range, held until resolved', async () => {
    const symbol = 9630;
    const names: Topics = {
      bars: await kafka.topic('gap_bars'),
      dlq: await kafka.topic('gap_dlq'),
      events: await kafka.topic('gap_events'),
    };
    const groupId = uniqueName('gap_sink');
    await kafka.producer.send(
      names.bars,
      Array.from({ length: 20 }, (_, minute) => barRecord(validBar(symbol, minute))),
    );
    const first = sinkFor(names, groupId);
    await first.start();
    try {
      await waitFor(async () => (await storedOffset(groupId, names.bars, 0)) === 20n, {
        timeoutMs: 30_000,
        description: 'the 20 bars stored',
      });
    } finally {
      await first.stop();
    }
    // 30 more while the sink is away; retention then deletes everything below offset 30.
    await kafka.producer.send(
      names.bars,
      Array.from({ length: 30 }, (_, minute) => barRecord(validBar(symbol, 100 + minute))),
    );
    await kafka.admin.deleteRecords(names.bars, 0, 30n);
    const sink = sinkFor(names, groupId);
    await sink.start();
    try {
      await waitFor(() => sink.stats().offsetGaps.length === 1, {
        timeoutMs: 30_000,
        description: 'the partition held for its gap',
      });
      expect(sink.stats().offsetGaps[0]?.message).toContain(
        'stored next offset 20 is before the log start 30 (log [30, 50)); retention deleted the records [20, 30) before they were read',
      );
      expect(await gapsOf(groupId)).toEqual([
        expect.objectContaining({ kind: 'before_log_start', storedOffset: 20n, logStart: 30n, logEnd: 50n }),
      ]);
      // Held: the reset to the log start did not silently jump over the deleted records.
      expect(await storedCount(`SYM${symbol}`)).toBe(20);
      await resolveOffsetGap(db.pool, kafka.admin, {
        groupId,
        topic: names.bars,
        partition: 0,
        to: 'earliest',
        resolvedBy: 'operator-test',
      });
      await waitFor(async () => (await storedCount(`SYM${symbol}`)) === 40, {
        timeoutMs: 30_000,
        description: 'the 20 retained bars stored',
      });
    } finally {
      await sink.stop();
    }
  });

  it('finding 2.1: a topic deleted and recreated under a running sink is found while it runs, not fenced in a loop', async () => {
    const symbol = 9640;
    const names: Topics = {
      bars: await kafka.topic('gap_bars'),
      dlq: await kafka.topic('gap_dlq'),
      events: await kafka.topic('gap_events'),
    };
    const groupId = uniqueName('gap_sink');
    await kafka.producer.send(
      names.bars,
      Array.from({ length: 50 }, (_, minute) => barRecord(validBar(symbol, minute))),
    );
    const sink = sinkFor(names, groupId);
    await sink.start();
    try {
      await waitFor(async () => (await storedOffset(groupId, names.bars, 0)) === 50n, {
        timeoutMs: 30_000,
        description: 'the 50 bars stored',
      });
      await recreateTopic(names.bars, 1);
      await kafka.producer.send(
        names.bars,
        Array.from({ length: 10 }, (_, minute) => barRecord(validBar(symbol, 1000 + minute))),
      );
      await waitFor(() => sink.stats().offsetGaps.length === 1, {
        timeoutMs: 60_000,
        description: 'the gap found by the running sink',
      });
      // Found on the rejoin that follows the recreation, or by the fetch the client reset: the log
      // end it saw is 0 or 10, depending on whether the new records were there yet.
      expect(await gapsOf(groupId)).toEqual([
        expect.objectContaining({
          kind: 'beyond_log_end',
          storedOffset: 50n,
          logStart: 0n,
          resolvedAt: null,
        }),
      ]);
      // At most the one fetch that revealed the reset was fenced, not a loop.
      const fenced = sink.stats().fenced;
      expect(fenced).toBeLessThanOrEqual(10);
      await resolveOffsetGap(db.pool, kafka.admin, {
        groupId,
        topic: names.bars,
        partition: 0,
        to: 'earliest',
        resolvedBy: 'operator-test',
      });
      await waitFor(async () => (await storedCount(`SYM${symbol}`)) === 60, {
        timeoutMs: 30_000,
        description: 'the 10 bars of the recreated topic stored',
      });
      expect(sink.stats().fenced).toBe(fenced);
    } finally {
      await sink.stop();
    }
  });

  it('resolving refuses a target outside the log and a partition without an open gap', async () => {
    const symbol = 9620;
    const { names, groupId } = await storedThenRecreated(symbol);
    const sink = sinkFor(names, groupId);
    await sink.start();
    try {
      await waitFor(async () => (await gapsOf(groupId)).length === 1, {
        timeoutMs: 30_000,
        description: 'the gap recorded',
      });
      const request = { groupId, topic: names.bars, partition: 0, resolvedBy: 'operator-test' };
      await expect(resolveOffsetGap(db.pool, kafka.admin, { ...request, to: 11n })).rejects.toThrow(
        `offset 11 is outside the log of ${names.bars}[0] (group ${groupId}), which holds 0..10`,
      );
      await expect(
        resolveOffsetGap(db.pool, kafka.admin, { ...request, partition: 1, to: 'latest' }),
      ).rejects.toThrow(`no unresolved offset gap for ${names.bars}[1] (group ${groupId})`);
      // `latest` skips the recreated log's records, by the operator's recorded choice.
      await resolveOffsetGap(db.pool, kafka.admin, { ...request, to: 'latest' });
      await waitFor(() => sink.stats().offsetGaps.length === 0, {
        timeoutMs: 10_000,
        description: 'the partition released',
      });
      expect(await storedOffset(groupId, names.bars, 0)).toBe(10n);
      expect(await storedCount(`SYM${symbol}`)).toBe(200);
    } finally {
      await sink.stop();
    }
  });
});
