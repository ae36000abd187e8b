import { createPool, migrate } from '@backbone/db';
import { createKafkajsClient } from '@backbone/kafka';
import { BarSink } from '@backbone/stream';
import { createLogger } from '@backbone/telemetry';
import {
  createTestDatabase,
  testEndpoints,
  uniqueName,
  utcMidnightDaysAgo,
  waitFor,
  type TestDatabase,
} from '@backbone/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backbone } from '../e2e/processes.ts';
import type { OffsetsReport } from './offsets.ts';

const brokers = testEndpoints().kafkaBrokers;
const kafka = createKafkajsClient({ brokers, clientId: uniqueName('cli_offsets'), logLevel: 'error' });
const admin = kafka.admin();
const producer = kafka.producer();
const topics = {
  bars: uniqueName('cli_gap_bars'),
  dlq: uniqueName('cli_gap_dlq'),
  events: uniqueName('cli_gap_events'),
};
const groupId = uniqueName('cli_gap_group');
let database: TestDatabase;
let pool: ReturnType<typeof createPool>;
let common: string[];

// Recent bars: TimescaleDB's prune job deletes 1m bars past their retention mid-test.
const FIRST_BAR_MS = utcMidnightDaysAgo(2);

function bars(count: number, fromMinute: number): { key: string; value: string }[] {
  return Array.from({ length: count }, (_, i) => ({
    key: 'CLIGAP',
    value: JSON.stringify({
      symbol: 'CLIGAP',
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
    logger: createLogger({ name: 'cli-offsets-test', level: 'fatal' }),
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
    `SELECT count(*)::int AS n FROM market_data.bars WHERE symbol = 'CLIGAP'`,
  );
  return result.rows[0]?.n ?? 0;
}

beforeAll(async () => {
  database = await createTestDatabase('cli_offsets', { migrate });
  pool = createPool({ url: database.url, poolSize: 4 });
  common = ['--set', `database.url=${database.url}`, '--set', `kafka.brokers=${JSON.stringify(brokers)}`];
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

describe('./backbone offsets', { timeout: 180_000 }, () => {
  it('finding 2.1: show names the gap of a recreated topic (exit 1), resolve records the decision and the held sink stores the new bars', async () => {
    // 30 bars stored (next offset 30), then the topic deleted and recreated with 4 new bars.
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

      const shown = await backbone(['offsets', 'show', '--json', ...common]);
      expect(shown.code, shown.stderr).toBe(1);
      const report = JSON.parse(shown.stdout) as OffsetsReport;
      expect(report.unresolvedGaps).toBe(1);
      expect(report.offsets).toContainEqual({
        group: groupId,
        topic: topics.bars,
        partition: 0,
        storedOffset: '30',
        logStart: '0',
        logEnd: '4',
        state: 'beyond_log_end',
      });
      expect(report.gaps).toEqual([
        expect.objectContaining({
          group: groupId,
          topic: topics.bars,
          partition: 0,
          kind: 'beyond_log_end',
          resolvedAt: null,
        }),
      ]);
      const text = await backbone(['offsets', 'show', ...common]);
      expect(text.stdout).toContain(
        `UNRESOLVED: ./backbone offsets resolve --group ${groupId} --topic ${topics.bars} --partition 0`,
      );

      const resolveArgs = [
        'offsets',
        'resolve',
        '--group',
        groupId,
        '--topic',
        topics.bars,
        '--partition',
        '0',
      ];
      const outside = await backbone([...resolveArgs, '--to', '5', ...common]);
      expect(outside.code).toBe(1);
      expect(outside.stderr).toContain(`offset 5 is outside the log of ${topics.bars}[0]`);
      const badUsage = await backbone([...resolveArgs, '--to', 'first', ...common]);
      expect(badUsage.code).toBe(2);

      const resolved = await backbone([...resolveArgs, '--to', 'earliest', '--by', 'alice', ...common]);
      expect(resolved.code, resolved.stderr).toBe(0);
      expect(resolved.stdout).toContain('stored next offset 30 -> 0 (earliest, by alice)');
      await waitFor(async () => (await storedCount()) === 34, {
        timeoutMs: 30_000,
        description: 'the 4 new bars stored',
      });

      const after = await backbone(['offsets', 'show', '--json', ...common]);
      expect(after.code, after.stderr).toBe(0);
      const final = JSON.parse(after.stdout) as OffsetsReport;
      expect(final.gaps).toEqual([
        expect.objectContaining({ resolution: 'earliest', resolvedOffset: '0', resolvedBy: 'alice' }),
      ]);
      expect(final.offsets).toContainEqual(
        expect.objectContaining({ topic: topics.bars, storedOffset: '4', state: 'ok' }),
      );
    } finally {
      await held.stop();
    }
  });
});
