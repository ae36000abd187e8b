import { systemConfigSchema, topicName, type SystemConfig } from '@backbone/config';
import { createPool, migrate } from '@backbone/db';
import { createKafkajsClient, ensureTopics, topicSpecsFromConfig } from '@backbone/kafka';
import { resolveOffsetGap } from '@backbone/stream';
import { Supervisor } from '@backbone/supervisor';
import { createLogger } from '@backbone/telemetry';
import {
  createTestDatabase,
  testEndpoints,
  uniqueName,
  utcMidnightDaysAgo,
  waitFor,
} from '@backbone/testing';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StreamBridge } from './stream-bridge.ts';

// Recent bars: TimescaleDB's prune job deletes 1m bars past their retention mid-test.
const FIRST_BAR_MS = utcMidnightDaysAgo(2);

const logger = createLogger({ name: 'stream-bridge-gaps-test', level: 'error' });
const kafka = createKafkajsClient({
  brokers: testEndpoints().kafkaBrokers,
  clientId: uniqueName('bridge_gaps'),
  logLevel: 'error',
});
const admin = kafka.admin();
const producer = kafka.producer();
const namespace = `${uniqueName('bridge_gaps')}.`;
const barsTopic = topicName({ namespace }, 'market.bars.v1');
let database: { url: string; drop(): Promise<void> };
let config: SystemConfig;

beforeAll(async () => {
  database = await createTestDatabase('bridge_gaps', { migrate });
  await Promise.all([admin.connect(), producer.connect()]);
  config = systemConfigSchema.parse({
    database: { url: database.url, statementTimeoutMs: 500 },
    kafka: { brokers: testEndpoints().kafkaBrokers, namespace },
    readiness: { sinkFailingSeconds: 1 },
    workers: { streamBridge: { shutdownDeadlineMs: 5_000 } },
  });
  await ensureTopics(admin, topicSpecsFromConfig(config.kafka));
});

afterAll(async () => {
  const mine = topicSpecsFromConfig(config.kafka).map((spec) => spec.name);
  const existing = new Set(await admin.listTopics());
  await admin.deleteTopics(mine.filter((topic) => existing.has(topic)));
  await Promise.allSettled([admin.close(), producer.close()]);
  await database.drop();
});

function bars(
  symbol: string,
  count: number,
  fromMinute: number,
): { key: string; value: string; partition: number }[] {
  return Array.from({ length: count }, (_, i) => ({
    key: symbol,
    partition: 5,
    value: JSON.stringify({
      symbol,
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

async function storedCount(pool: pg.Pool, symbol: string): Promise<number> {
  const result = await pool.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM market_data.bars WHERE symbol = $1',
    [symbol],
  );
  return result.rows[0]?.n ?? 0;
}

/** A bridge under its supervisor, as `serve stream-bridge` runs it; `stop()` ends both. */
async function runBridge(pool: pg.Pool): Promise<{ bridge: StreamBridge; stop(): Promise<void> }> {
  const bridge = new StreamBridge({ config, pool, kafka, logger });
  await bridge.start();
  const supervisor = new Supervisor({ name: 'stream-bridge', children: bridge.children, logger });
  supervisor.start();
  return {
    bridge,
    async stop() {
      await supervisor.stop();
      await bridge.stop();
    },
  };
}

describe('stream-bridge readiness', { timeout: 180_000 }, () => {
  it('finding 2.1: after the bar topic is deleted and recreated under stored offsets, /readyz fails naming topic, partition and offsets; resolved, the new bars are stored', async () => {
    const pool = createPool(config.database, { applicationName: 'bridge-gaps-test' });
    try {
      // 200 bars stored: the next offset stored for partition 5 is 200.
      await producer.send(barsTopic, bars('GAP5', 200, 0));
      const first = await runBridge(pool);
      try {
        await waitFor(async () => (await storedCount(pool, 'GAP5')) === 200, {
          timeoutMs: 60_000,
          description: 'the 200 bars stored',
        });
      } finally {
        await first.stop();
      }
      await admin.deleteTopics([barsTopic]);
      await waitFor(async () => !(await admin.listTopics()).includes(barsTopic), {
        timeoutMs: 30_000,
        description: 'the bar topic deleted',
      });
      await waitFor(
        async () => {
          try {
            return (await ensureTopics(admin, topicSpecsFromConfig(config.kafka))).ok;
          } catch {
            return false; // still marked for deletion
          }
        },
        { timeoutMs: 30_000, description: 'the bar topic created again' },
      );
      await producer.send(barsTopic, bars('GAP5', 10, 1000));

      const second = await runBridge(pool);
      try {
        const readiness = await waitFor(
          async () => {
            const result = await second.bridge.readiness();
            return result.details['problems'] === undefined ? undefined : result;
          },
          { timeoutMs: 30_000, description: '/readyz naming a problem' },
        );
        expect(readiness.ready).toBe(false);
        expect(readiness.details['problems']).toEqual([expect.stringContaining(`${barsTopic}[5]`)]);
        expect(String(readiness.details['problems'])).toContain(
          'stored next offset 200 is beyond the log end 10',
        );
        // Held, not fenced in a loop: nothing was read from the partition.
        expect(second.bridge.sink?.stats().fenced).toBe(0);

        await resolveOffsetGap(pool, admin, {
          groupId: second.bridge.groupId,
          topic: barsTopic,
          partition: 5,
          to: 'earliest',
          resolvedBy: 'operator-test',
        });
        await waitFor(async () => (await storedCount(pool, 'GAP5')) === 210, {
          timeoutMs: 30_000,
          description: 'the 10 new bars stored',
        });
        expect(await second.bridge.readiness()).toMatchObject({ ready: true });
      } finally {
        await second.stop();
      }
    } finally {
      await pool.end();
    }
  });

  it('finding 3 (sink failing): /readyz fails once the sink has failed to write for readiness.sinkFailingSeconds, naming since when and the error, and recovers', async () => {
    const pool = createPool(config.database, { applicationName: 'bridge-gaps-test' });
    const blocker = createPool({ url: database.url, poolSize: 1 });
    const running = await runBridge(pool);
    const locker = await blocker.connect();
    try {
      await waitFor(async () => (await running.bridge.readiness()).ready, {
        timeoutMs: 30_000,
        description: 'the bridge ready',
      });
      // Every write of the sink needs the offsets table; held by another transaction, each
      // attempt runs into the 500 ms statement timeout and fails, again and again.
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE backbone.consumer_offsets IN ACCESS EXCLUSIVE MODE');
      await producer.send(barsTopic, bars('FAIL5', 5, 0));
      // The locked table also times out the stalled-partition probe (it reads the same table), so
      // /readyz turns not ready at once; the sink's own rule names the failing writes a moment later.
      const readiness = await waitFor(
        async () => {
          const result = await running.bridge.readiness();
          return result.details['problems'] === undefined ? undefined : result;
        },
        { timeoutMs: 30_000, description: '/readyz naming the failing writes' },
      );
      expect(readiness.ready).toBe(false);
      expect(readiness.details['problems']).toEqual([
        expect.stringMatching(
          /^sink writes failing since \S+ \(\d+ s, \d+ failed attempts; threshold 1 s\): .*statement timeout/,
        ),
      ]);
      await locker.query('ROLLBACK');
      await waitFor(async () => (await storedCount(pool, 'FAIL5')) === 5, {
        timeoutMs: 30_000,
        description: 'the bars stored once the table is free',
      });
      expect(await running.bridge.readiness()).toMatchObject({ ready: true });
      expect(running.bridge.sink?.stats().failingSince).toBeNull();
    } finally {
      locker.release();
      await running.stop();
      await Promise.allSettled([pool.end(), blocker.end()]);
    }
  });
});
