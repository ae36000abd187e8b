import { createPool, migrate } from '@backbone/db';
import { createKafkajsClient } from '@backbone/kafka';
import { BarSink, resolveOffsetGap } from '@backbone/stream';
import { createLogger } from '@backbone/telemetry';
import {
  createTestDatabase,
  testEndpoints,
  uniqueName,
  utcMidnightDaysAgo,
  waitFor,
  type TestDatabase,
} from '@backbone/testing';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCheck } from '../run-check.ts';
import { offsetGapsCheck } from './offset-gaps.ts';

const kafka = createKafkajsClient({
  brokers: testEndpoints().kafkaBrokers,
  clientId: uniqueName('readiness_gaps'),
  logLevel: 'error',
});
const admin = kafka.admin();
const producer = kafka.producer();
const topics = {
  bars: uniqueName('readiness_gap_bars'),
  dlq: uniqueName('readiness_gap_dlq'),
  events: uniqueName('readiness_gap_events'),
};
const groupId = uniqueName('readiness_gap_group');
let database: TestDatabase;
let pool: pg.Pool;

// Recent bars: TimescaleDB's prune job deletes 1m bars past their retention mid-test.
const FIRST_BAR_MS = utcMidnightDaysAgo(2);

function bars(count: number, fromMinute: number): { key: string; value: string }[] {
  return Array.from({ length: count }, (_, i) => ({
    key: 'RDYGAP',
    value: JSON.stringify({
      symbol: 'RDYGAP',
      timeframe: '1m',
      ts: new Date(FIRST_BAR_MS + (fromMinute + i) * 60_000).toISOString(),
      open: 10,
      high: 11,
      low: 9,
      close: 10.5,
      volume: i,
      source: 'feed',
    }),
  }));
}

function sink(): BarSink {
  return new BarSink({
    kafka,
    pool,
    logger: createLogger({ name: 'readiness-gaps-test', level: 'fatal' }),
    groupId,
    topic: topics.bars,
    deadLetterTopic: topics.dlq,
    ingestEventsTopic: topics.events,
    maxBatchRecords: 100,
    maxBatchBytes: 1_048_576,
    maxMessageBytes: 4096,
    gapPollIntervalMs: 100,
  });
}

async function storedCount(): Promise<number> {
  const result = await pool.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM market_data.bars WHERE symbol = 'RDYGAP'`,
  );
  return result.rows[0]?.n ?? 0;
}

beforeAll(async () => {
  database = await createTestDatabase('readiness_gaps', { migrate });
  pool = createPool({ url: database.url, poolSize: 4 });
  await Promise.all([admin.connect(), producer.connect()]);
  await admin.createTopics(
    Object.values(topics).map((name) => ({ name, partitions: 1, replicationFactor: 1, configs: {} })),
  );
}, 60_000);

afterAll(async () => {
  const existing = new Set(await admin.listTopics());
  await admin.deleteTopics(Object.values(topics).filter((name) => existing.has(name)));
  await Promise.allSettled([admin.close(), producer.close(), pool.end()]);
  await database.drop();
});

describe('kafka.offset-gaps', { timeout: 180_000 }, () => {
  it('finding 2.1: fails while a sink holds an unresolved offset gap (topic recreated under its stored offset), naming it; ok once resolved', async () => {
    const check = offsetGapsCheck({ pool });
    expect((await runCheck(check, 5_000)).status).toBe('ok');
    await producer.send(topics.bars, bars(30, 0));
    const first = sink();
    await first.start();
    try {
      await waitFor(async () => (await storedCount()) === 30, { timeoutMs: 30_000, description: '30 bars' });
    } finally {
      await first.stop();
    }
    await admin.deleteTopics([topics.bars]);
    await waitFor(async () => !(await admin.listTopics()).includes(topics.bars), {
      timeoutMs: 30_000,
      description: 'the topic deleted',
    });
    await waitFor(
      async () => {
        // Refused while the old topic is still marked for deletion; a timed-out create may have worked.
        await admin
          .createTopics([{ name: topics.bars, partitions: 1, replicationFactor: 1, configs: {} }])
          .catch(() => false);
        return (await admin.listTopics()).includes(topics.bars);
      },
      { timeoutMs: 30_000, description: 'the topic created again' },
    );
    await producer.send(topics.bars, bars(4, 1000));

    const held = sink();
    await held.start();
    try {
      await waitFor(() => held.stats().offsetGaps.length === 1, {
        timeoutMs: 30_000,
        description: 'the partition held for its gap',
      });
      const failing = await runCheck(check, 5_000);
      expect(failing).toMatchObject({ status: 'fail', reason: 'offset_gap_unresolved', component: 'kafka' });
      expect(failing.message).toContain(
        `1 unresolved offset gap: ${topics.bars}[0] (group ${groupId}): stored next offset 30 is beyond the log end 4`,
      );
      expect(failing.message).toContain('./backbone offsets resolve');
      expect(failing.evidence['unresolved']).toEqual([
        expect.objectContaining({ group: groupId, topic: topics.bars, partition: 0, storedOffset: '30' }),
      ]);

      await resolveOffsetGap(pool, admin, {
        groupId,
        topic: topics.bars,
        partition: 0,
        to: 'earliest',
        resolvedBy: 'operator-test',
      });
      expect((await runCheck(check, 5_000)).status).toBe('ok');
      await waitFor(async () => (await storedCount()) === 34, {
        timeoutMs: 30_000,
        description: 'the 4 new bars stored',
      });
    } finally {
      await held.stop();
    }
  });
});
