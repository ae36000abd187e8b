import {
  createPool,
  mergeBars,
  migrate,
  pruneSystemTables,
  systemPruneRules,
  withTransaction,
} from '@backbone/db';
import { createLogger } from '@backbone/telemetry';
import { createTestDatabase, type TestDatabase, waitFor } from '@backbone/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storageMaintenanceChild } from './storage-maintenance.ts';

const systemRetention = {
  outboxSentDays: 7,
  outboxDeadDays: 30,
  readinessSnapshotsDays: 7,
  ingestRunsDays: 90,
  rejectedRowsDays: 90,
  resolvedOffsetGapsDays: 90,
  // Small batches, so the test's backlog takes several DELETEs.
  pruneBatchRows: 2,
};

/** The pass log lines a child wrote, parsed. */
function capturedLog(): { lines: Record<string, unknown>[]; destination: { write(line: string): void } } {
  const lines: Record<string, unknown>[] = [];
  return { lines, destination: { write: (line) => lines.push(JSON.parse(line) as Record<string, unknown>) } };
}

function oneMinuteBars(symbol: string, start: number, minutes: number) {
  return Array.from({ length: minutes }, (_, minute) => ({
    symbol,
    timeframe: '1m',
    ts: new Date(start + minute * 60_000),
    open: 1.1,
    high: 1.2,
    low: 1.0,
    close: 1.1 + minute / 1000,
    volume: 10,
    source: 'test',
  }));
}

// Both storage modes, each on its real server: the stack's TimescaleDB (its job scheduler runs)
// and the machine's plain PostgreSQL.
describe.each(['timescaledb', 'plain'] as const)('storage maintenance child on %s', (server) => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase('maintenance', { migrate, server });
  });
  afterAll(async () => {
    await database.drop();
  });

  it('rolls up every 1m bar on its first pass and newly ingested ones on later passes, and never fails a pass', async () => {
    const pool = createPool({ url: database.url, poolSize: 2 });
    // Two hours of 1m history ten days old: outside the recent window, inside the 30-day retention.
    const now = new Date();
    const today = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate());
    const old = today - 10 * 86_400_000;
    // mergeBars creates the ten-day-old partition that maintenance does not keep ahead.
    await withTransaction(pool, (client) => mergeBars(client, oneMinuteBars('EURUSD', old, 120)));
    const log = capturedLog();
    const controller = new AbortController();
    const child = storageMaintenanceChild({
      pool,
      logger: createLogger({ name: 'maintenance-test', level: 'info', destination: log.destination }),
      intervalMs: 50,
      recentWindowMs: 3_600_000,
      systemRetention,
    });
    const running = child.start(controller.signal);
    try {
      const hours = await waitFor(
        async () => {
          const result = await pool.query<{ ts: Date; close: number; volume: number }>(
            "SELECT ts, close, volume FROM market_data.bars_1h WHERE symbol = 'EURUSD' ORDER BY ts",
          );
          return result.rows.length === 2 ? result.rows : undefined;
        },
        { description: 'two 1h rollup rows of the ten-day-old bars' },
      );
      expect(hours.map((row) => row.ts.getTime())).toEqual([old, old + 3_600_000]);
      expect(hours.map((row) => row.close)).toEqual([1.1 + 59 / 1000, 1.1 + 119 / 1000]);
      expect(hours.map((row) => row.volume)).toEqual([600, 600]);

      // An ingest while the child runs: the last complete hour, inside the recent window.
      const lastHour = Math.floor(Date.now() / 3_600_000) * 3_600_000 - 3_600_000;
      await withTransaction(pool, (client) => mergeBars(client, oneMinuteBars('GBPUSD', lastHour, 60)));
      const recent = await waitFor(
        async () => {
          const result = await pool.query<{ ts: Date; bar_count: string }>(
            "SELECT ts, bar_count::text FROM market_data.bars_1h WHERE symbol = 'GBPUSD'",
          );
          return result.rows.length === 1 ? result.rows[0] : undefined;
        },
        { description: 'the 1h rollup of the bars ingested while the child runs' },
      );
      expect(recent).toEqual({ ts: new Date(lastHour), bar_count: '60' });

      const passes = log.lines.filter((line) => line['msg'] === 'storage maintenance pass done');
      expect(passes[0]).toMatchObject(
        server === 'timescaledb'
          ? { mode: 'timescaledb', retention: 'timescaledb job scheduler' }
          : { mode: 'postgres-partitioned', retention: 'this pass' },
      );
      expect(log.lines.filter((line) => line['msg'] !== 'storage maintenance pass done')).toEqual([]);
      if (server === 'plain') {
        // No scheduler here: the pass keeps partitions ahead (the next week's exists).
        const ahead = await pool.query<{ covered: boolean }>(
          `SELECT EXISTS (SELECT 1 FROM backbone.time_partitions('market_data.bars')
                          WHERE range_start <= now() + interval '7 days' AND now() + interval '7 days' < range_end) AS covered`,
        );
        expect(ahead.rows[0]?.covered).toBe(true);
      }
    } finally {
      controller.abort();
      await running;
      await pool.end();
    }
  });

  it('finding 4.1: the maintenance pass prunes system rows past their retention, in batches, and keeps young, unsent and running ones', async () => {
    const pool = createPool({ url: database.url, poolSize: 2 });
    const daysAgo = (days: number) => new Date(Date.now() - days * 86_400_000);
    // Outbox: five sent 10 days ago (pruned over three batches), one sent yesterday, one unsent
    // for 100 days, one dead 40 days ago (pruned), one dead 5 days ago.
    for (let i = 0; i < 5; i += 1) {
      await pool.query(
        `INSERT INTO backbone.outbox (topic, key, payload, created_at, published_at) VALUES ('t', $1, '{}', $2, $2)`,
        [`sent-old-${i}`, daysAgo(10)],
      );
    }
    await pool.query(
      `INSERT INTO backbone.outbox (topic, key, payload, created_at, published_at, dead_at, dead_reason) VALUES
         ('t', 'sent-young', '{}', $1, $1, NULL, NULL),
         ('t', 'unsent-old', '{}', $2, NULL, NULL, NULL),
         ('t', 'dead-old', '{}', $3, NULL, $3, 'MESSAGE_TOO_LARGE'),
         ('t', 'dead-young', '{}', $4, NULL, $4, 'MESSAGE_TOO_LARGE')`,
      [daysAgo(1), daysAgo(100), daysAgo(40), daysAgo(5)],
    );
    await pool.query(
      `INSERT INTO backbone.readiness_snapshots (taken_at, status, report) VALUES ($1, 'ok', '{}'), (now(), 'ok', '{}')`,
      [daysAgo(10)],
    );
    await pool.query(
      `INSERT INTO backbone.ingest_runs (run_id, dimension, source, status, started_at, finished_at) VALUES
         ('finished-old', 'bars', 'csv', 'succeeded', $1, $1),
         ('running-old', 'bars', 'csv', 'running', $1, NULL),
         ('finished-young', 'bars', 'csv', 'failed', $2, $2)`,
      [daysAgo(100), daysAgo(1)],
    );
    await pool.query(
      `INSERT INTO backbone.rejected_rows (run_id, source, reason, message, rejected_at) VALUES
         ('finished-old', 'csv', 'bad', 'old', $1), ('finished-young', 'csv', 'bad', 'young', $2)`,
      [daysAgo(100), daysAgo(1)],
    );
    await pool.query(
      `INSERT INTO backbone.rejected_records
         (source_topic, source_partition, source_offset, payload_bytes, payload_sha256, error_class, reason, message, rejected_at)
       VALUES ('bars', 0, 1, 0, repeat('0', 64), 'record', 'message_too_large', 'old', $1),
              ('bars', 0, 2, 0, repeat('0', 64), 'record', 'message_too_large', 'young', $2)`,
      [daysAgo(100), daysAgo(1)],
    );

    await pool.query(
      `INSERT INTO backbone.offset_gaps
         (group_id, topic, partition, kind, stored_offset, log_start, log_end, detected_at,
          resolved_at, resolution, resolved_offset, resolved_by)
       VALUES ('resolved-old', 'bars', 0, 'beyond_log_end', 200, 0, 10, $1, $1, 'earliest', 0, 'alice'),
              ('open-old', 'bars', 1, 'beyond_log_end', 200, 0, 10, $1, NULL, NULL, NULL, NULL)`,
      [daysAgo(100)],
    );

    const controller = new AbortController();
    const child = storageMaintenanceChild({
      pool,
      logger: createLogger({ name: 'maintenance-test', level: 'silent' }),
      intervalMs: 50,
      recentWindowMs: 3_600_000,
      systemRetention,
    });
    const running = child.start(controller.signal);
    try {
      const keys = async (sql: string) => (await pool.query<{ key: string }>(sql)).rows.map((row) => row.key);
      await waitFor(
        async () => (await keys(`SELECT key FROM backbone.outbox WHERE key = 'dead-old'`)).length === 0,
        { description: 'the pass pruned the outbox' },
      );
      // One pass prunes every rule; wait for the one in flight to finish the last rule.
      await waitFor(
        async () =>
          (await keys(`SELECT message AS key FROM backbone.rejected_records WHERE message = 'old'`))
            .length === 0,
        { description: 'the pass pruned the rejected records' },
      );
      expect(await keys('SELECT key FROM backbone.outbox ORDER BY key')).toEqual([
        'dead-young',
        'sent-young',
        'unsent-old',
      ]);
      expect(await keys('SELECT status AS key FROM backbone.readiness_snapshots')).toHaveLength(1);
      expect(await keys('SELECT run_id AS key FROM backbone.ingest_runs ORDER BY run_id')).toEqual([
        'finished-young',
        'running-old',
      ]);
      expect(await keys('SELECT message AS key FROM backbone.rejected_rows')).toEqual(['young']);
      expect(await keys('SELECT message AS key FROM backbone.rejected_records')).toEqual(['young']);
      await waitFor(
        async () => (await keys(`SELECT group_id AS key FROM backbone.offset_gaps`)).length === 1,
        { description: 'the pass pruned the resolved offset gap' },
      );
      expect(await keys('SELECT group_id AS key FROM backbone.offset_gaps')).toEqual(['open-old']);
    } finally {
      controller.abort();
      await running;
    }
    // The sizes the pass logs: every system table, in bytes; nothing is left to prune.
    const client = await pool.connect();
    try {
      const again = await pruneSystemTables(client, systemPruneRules(systemRetention), { batchRows: 2 });
      expect(Object.values(again.pruned).every((deleted) => deleted === 0)).toBe(true);
      // A backlog larger than a batch goes in one call, batch after batch.
      await client.query(
        `INSERT INTO backbone.outbox (topic, key, payload, created_at, published_at)
         SELECT 't', 'backlog', '{}', $1, $1 FROM generate_series(1, 5)`,
        [daysAgo(10)],
      );
      const backlog = await pruneSystemTables(client, systemPruneRules(systemRetention), { batchRows: 2 });
      expect(backlog.pruned['outbox.sent']).toBe(5);
      expect(Object.keys(again.sizes).sort()).toEqual([
        'backbone.ingest_runs',
        'backbone.offset_gaps',
        'backbone.outbox',
        'backbone.readiness_snapshots',
        'backbone.rejected_records',
        'backbone.rejected_rows',
      ]);
      expect(Object.values(again.sizes).every((bytes) => bytes > 0)).toBe(true);
    } finally {
      client.release();
      await pool.end();
    }
  });
});
