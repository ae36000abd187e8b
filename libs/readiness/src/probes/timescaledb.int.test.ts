import { createPool, migrate, withTransaction, mergeBars } from '@backbone/db';
import { createTestDatabase, type TestDatabase } from '@backbone/testing';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testConfig, testRules } from '../test-support/config.ts';
import { runCheck, type CheckDefinition } from '../run-check.ts';
import { expectationsFromConfig, timescaleChecks } from './timescaledb.ts';
import { kafkaChecks } from './kafka.ts';

const HOUR = 3_600_000;
const config = testConfig({
  ingest: {
    plans: [
      { name: 'fx-intraday', provider: 'csv', symbols: ['EURUSD', 'GBPUSD'], timeframes: ['1m'] },
      { name: 'fx-daily', provider: 'csv', symbols: ['EURUSD'], timeframes: ['1d'] },
    ],
  },
});
const rules = testRules({}, { probeTimeoutMs: 5_000 });

function check(checks: CheckDefinition[], name: string): CheckDefinition {
  const found = checks.find((candidate) => candidate.name === name);
  if (found === undefined) throw new Error(`no check ${name}`);
  return found;
}

function bar(symbol: string, timeframe: string, ts: Date) {
  return { symbol, timeframe, ts, open: 1, high: 2, low: 0.5, close: 1.5, volume: 10, source: 'test' };
}

describe('database probes on the plain PostgreSQL server (partitioned mode)', () => {
  let db: TestDatabase;
  let bare: TestDatabase;
  let pool: pg.Pool;
  let barePool: pg.Pool;

  beforeAll(async () => {
    db = await createTestDatabase('readiness_pg', { migrate, server: 'plain' });
    bare = await createTestDatabase('readiness_bare', { server: 'plain' }); // not migrated
    pool = createPool({ url: db.url, poolSize: 4, statementTimeoutMs: 10_000 });
    barePool = createPool({ url: bare.url, poolSize: 1, statementTimeoutMs: 10_000 });
  });
  afterAll(async () => {
    await Promise.allSettled([pool.end(), barePool.end()]);
    await Promise.allSettled([db.drop(), bare.drop()]);
  });

  const checksAt = (on = pool, now = new Date()) =>
    timescaleChecks({ pool: on, rules, expectations: expectationsFromConfig(config), now: () => now });

  it('connection: ok with latency, version and mode from the live server', async () => {
    const result = await runCheck(check(checksAt(), 'timescaledb.connection'), rules.probeTimeoutMs);
    expect(result.status).toBe('ok');
    expect(result.evidence.mode).toBe('postgres-partitioned');
    expect(String(result.evidence.serverVersion)).toMatch(/^\d+/);
    expect(typeof result.evidence.selectOneMs).toBe('number');
  });

  it('jobs: plain PostgreSQL has no job scheduler; the check reports the mode and passes', async () => {
    const result = await runCheck(check(checksAt(), 'timescaledb.jobs'), rules.probeTimeoutMs);
    expect(result.status).toBe('ok');
    expect(result.evidence).toMatchObject({ mode: 'postgres-partitioned', jobs: [] });
  });

  it('connection: fail when nothing listens where the database should be', async () => {
    const nowhere = createPool(
      { url: 'postgres://postgres@127.0.0.1:1/backbone', connectionTimeoutMs: 1_000 },
      { onError: () => undefined },
    );
    try {
      const result = await runCheck(check(checksAt(nowhere), 'timescaledb.connection'), 3_000);
      expect(result.status).toBe('fail');
      expect(result.reason).toBe('probe_error');
      expect(result.message).toContain('timescaledb');
    } finally {
      await nowhere.end();
    }
  });

  it('schema: ok when migrated (partitions for now and ahead), fail naming the tables when not', async () => {
    const migrated = await runCheck(check(checksAt(), 'timescaledb.schema'), rules.probeTimeoutMs);
    expect(migrated.status).toBe('ok');
    expect(migrated.evidence.partitions).toMatchObject({
      'market_data.bars': { coversNow: true, coversNext: true },
    });
    // Finding 4.1: each system table's size is reported (bytes, indexes included).
    const sizes = migrated.evidence.systemTableBytes as Record<string, number>;
    for (const table of ['backbone.outbox', 'backbone.readiness_snapshots', 'backbone.ingest_runs']) {
      expect(sizes[table]).toBeGreaterThan(0);
    }

    const empty = await runCheck(check(checksAt(barePool), 'timescaledb.schema'), rules.probeTimeoutMs);
    expect(empty.status).toBe('fail');
    expect(empty.reason).toBe('tables_missing');
    expect(empty.message).toContain('market_data.bars');
    expect(empty.message).toContain('./backbone migrate');
  });

  it('freshness: fail for an expected symbol without data, ok when fresh, warn then fail as it ages', async () => {
    const now = new Date();
    const missing = await runCheck(check(checksAt(pool, now), 'freshness.intraday'), rules.probeTimeoutMs);
    expect(missing.status).toBe('fail');
    expect(missing.reason).toBe('expected_symbol_missing');
    expect(missing.message).toContain('EURUSD');

    const minute = new Date(Math.floor(now.getTime() / 60_000) * 60_000 - 60_000);
    await withTransaction(pool, (client) =>
      mergeBars(client, [bar('EURUSD', '1m', minute), bar('GBPUSD', '1m', minute)]),
    );
    const fresh = await runCheck(check(checksAt(pool, now), 'freshness.intraday'), rules.probeTimeoutMs);
    expect(fresh.status).toBe('ok');
    expect(fresh.evidence.symbols).toHaveLength(2);

    // Intraday SLA is 900 s: 20 minutes later is past it (warn), an hour later twice past (fail).
    const later = await runCheck(
      check(checksAt(pool, new Date(now.getTime() + 20 * 60_000)), 'freshness.intraday'),
      rules.probeTimeoutMs,
    );
    expect(later.status).toBe('warn');
    expect(later.reason).toBe('data_stale');
    const muchLater = await runCheck(
      check(checksAt(pool, new Date(now.getTime() + HOUR)), 'freshness.intraday'),
      rules.probeTimeoutMs,
    );
    expect(muchLater.status).toBe('fail');
    expect(muchLater.message).toMatch(/1m bars of EURUSD are \d+m old/);
  });

  it('freshness: a symbol no plan expects is shown with its age but not held to the SLA', async () => {
    const now = new Date();
    const minute = new Date(Math.floor(now.getTime() / 60_000) * 60_000 - 60_000);
    await withTransaction(pool, (client) =>
      mergeBars(client, [
        bar('EURUSD', '1m', minute),
        bar('GBPUSD', '1m', minute),
        bar('ONEOFF', '1m', minute),
      ]),
    );
    // 20 minutes on, every pair is past the 900 s SLA: only the planned ones warn.
    const later = await runCheck(
      check(checksAt(pool, new Date(now.getTime() + 20 * 60_000)), 'freshness.intraday'),
      rules.probeTimeoutMs,
    );
    expect(later.status).toBe('warn');
    expect(later.message).toContain('EURUSD');
    expect(later.message).not.toContain('ONEOFF');
    expect(later.evidence.symbols).toContainEqual(
      expect.objectContaining({ symbol: 'ONEOFF', planned: false, status: 'ok' }),
    );
    expect(
      (later.evidence.symbols as { ageSeconds: number }[]).every((age) => age.ageSeconds >= 20 * 60),
    ).toBe(true);
  });

  it('freshness: stale daily bars inserted days ago fail with the symbol and its age', async () => {
    const day = new Date(Math.floor(Date.now() / 86_400_000) * 86_400_000 - 5 * 86_400_000);
    await withTransaction(pool, (client) => mergeBars(client, [bar('EURUSD', '1d', day)]));
    const result = await runCheck(check(checksAt(), 'freshness.daily'), rules.probeTimeoutMs);
    expect(result.status).toBe('fail');
    expect(result.message).toContain('daily 1d bars of EURUSD are 4d');
  });

  it('rollups: judged by how long ago the uncovered 1m bars were ingested, ok once refreshed', async () => {
    // The 1m bars of the earlier tests are in no rollup yet. Just ingested, the next
    // maintenance pass may still come: ok (rules: warn after 3, fail after 60 maintenance intervals).
    const fresh = await runCheck(check(checksAt(), 'freshness.rollups'), rules.probeTimeoutMs);
    expect(fresh.status).toBe('ok');
    expect(fresh.evidence.newestRollupBucket).toBeNull();
    expect(fresh.evidence.oldestUncoveredIngestedAt).not.toBeNull();

    const interval = 60; // storage.maintenanceIntervalSeconds, default
    const ingestedAgo = (seconds: number) =>
      pool.query(
        `UPDATE market_data.bars SET ingested_at = now() - make_interval(secs => $1) WHERE timeframe = '1m'`,
        [seconds],
      );
    await ingestedAgo(5 * interval);
    const lagging = await runCheck(check(checksAt(), 'freshness.rollups'), rules.probeTimeoutMs);
    expect(lagging.status).toBe('warn');
    expect(lagging.message).toContain('not in the 1h rollup market_data.bars_1h yet');
    await ingestedAgo(2 * 3600);
    expect((await runCheck(check(checksAt(), 'freshness.rollups'), rules.probeTimeoutMs)).status).toBe(
      'fail',
    );

    await pool.query(
      `SELECT market_data.refresh_rollup('market_data.bars_1h'::regclass, 'hour', now() - interval '1 day', now() + interval '1 hour')`,
    );
    const refreshed = await runCheck(check(checksAt(), 'freshness.rollups'), rules.probeTimeoutMs);
    expect(refreshed.status).toBe('ok');
    expect(refreshed.evidence.lagSeconds).toBe(0);
    expect(refreshed.evidence.oldestUncoveredIngestedAt).toBeNull();
  });

  it('ingest runs: warn after one failed run, fail after the configured consecutive failures', async () => {
    const insertRun = (id: string, status: string, minutesAgo: number, rows = 100) =>
      pool.query(
        `INSERT INTO backbone.ingest_runs (run_id, dimension, source, plan, status, inserted, started_at, error)
         VALUES ($1, 'bars', 'csv', 'fx-intraday', $2, $3, now() - make_interval(mins => $4), $5)`,
        [id, status, rows, minutesAgo, status === 'failed' ? 'provider answered 503' : null],
      );
    await insertRun('r1', 'succeeded', 50);
    const healthy = await runCheck(check(checksAt(), 'ingest.runs'), rules.probeTimeoutMs);
    expect(healthy.status).toBe('ok');
    expect(healthy.evidence.rowsLastHour).toBe(100);

    await insertRun('r2', 'failed', 40);
    const once = await runCheck(check(checksAt(), 'ingest.runs'), rules.probeTimeoutMs);
    expect(once.status).toBe('warn');
    expect(once.message).toContain('fx-intraday failed its last 1 run');

    await insertRun('r3', 'failed', 30);
    await insertRun('r4', 'failed', 20);
    const thrice = await runCheck(check(checksAt(), 'ingest.runs'), rules.probeTimeoutMs);
    expect(thrice.status).toBe('fail');
    expect(thrice.reason).toBe('ingest_runs_failing');
    expect(thrice.message).toContain('provider answered 503');
  });

  it('outbox relay: ok when empty or young, fail when the oldest unpublished event is old', async () => {
    const kafka = kafkaChecks({
      createAdmin: () => {
        throw new Error('not used by the outbox check');
      },
      rules,
      topics: [],
      groups: [],
      deadLetterTopic: 'unused',
      pool,
    });
    const outbox = check(kafka.checks, 'kafka.outbox-relay');
    expect((await runCheck(outbox, rules.probeTimeoutMs)).status).toBe('ok');
    await pool.query(
      `INSERT INTO backbone.outbox (topic, key, payload, created_at) VALUES ('backbone.ingest-events.v1', 'k', '{}', now() - interval '20 minutes')`,
    );
    const stuck = await runCheck(outbox, rules.probeTimeoutMs);
    expect(stuck.status).toBe('fail');
    expect(stuck.message).toMatch(
      /holds 1 unsent events, the oldest \(topic backbone\.ingest-events\.v1\) written .*, 20m ago/,
    );
    await pool.query(`UPDATE backbone.outbox SET published_at = now()`);
    expect((await runCheck(outbox, rules.probeTimeoutMs)).status).toBe('ok');
  });
});
