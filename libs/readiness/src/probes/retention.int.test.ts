import { createPool, mergeBars, migrate, withTransaction } from '@backbone/db';
import { createTestDatabase, type TestDatabase } from '@backbone/testing';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCheck, type CheckDefinition } from '../run-check.ts';
import { testConfig } from '../test-support/config.ts';
import { retentionChecks } from './retention.ts';

const DAY = 86_400_000;

describe('retention telemetry on a real PostgreSQL (partitioned mode)', () => {
  let db: TestDatabase;
  let pool: pg.Pool;
  beforeAll(async () => {
    db = await createTestDatabase('readiness_ret', { migrate, server: 'plain' });
    pool = createPool({ url: db.url, poolSize: 4, statementTimeoutMs: 10_000 });
  });
  afterAll(async () => {
    await pool.end();
    await db.drop();
  });

  const check = (name: string, storage = testConfig().storage): CheckDefinition => {
    const found = retentionChecks({ pool, storage }).find((candidate) => candidate.name === name);
    if (found === undefined) throw new Error(`no check ${name}`);
    return found;
  };

  it('reports target, oldest data and the enforcing policy per table; ok when enforced', async () => {
    const day = new Date(Math.floor(Date.now() / DAY) * DAY - 3 * DAY);
    await withTransaction(pool, (client) =>
      mergeBars(client, [
        {
          symbol: 'EURUSD',
          timeframe: '1d',
          ts: day,
          open: 1,
          high: 1,
          low: 1,
          close: 1,
          volume: 1,
          source: 't',
        },
      ]),
    );
    const bars = await runCheck(check('retention.bars'), 5_000);
    expect(bars.status).toBe('ok');
    const daily = (bars.evidence.timeframes as { timeframe: string }[]).find(
      (entry) => entry.timeframe === '1d',
    );
    expect(daily).toMatchObject({
      targetDays: 36_500,
      enforcedDays: 36_500,
      oldestData: day.toISOString(),
      oldestAgeDays: expect.any(Number) as number,
      policy: expect.stringContaining('prune_bars') as string,
    });
    const ticks = await runCheck(check('retention.ticks'), 5_000);
    expect(ticks.status).toBe('ok');
    expect(ticks.evidence).toMatchObject({ targetDays: 7, enforcedDays: 7, oldestData: null });
  });

  it('warns when the database enforces another retention than the config says', async () => {
    const storage = testConfig({ storage: { retentionDays: { ticks: 3 } } }).storage;
    const result = await runCheck(check('retention.ticks', storage), 5_000);
    expect(result.status).toBe('warn');
    expect(result.reason).toBe('retention_policy_drift');
    expect(result.message).toContain('enforces 7 days but the config says 3');
  });

  it('warns when data is older than target + one chunk (the maintenance did not run)', async () => {
    // 1m bars keep 30 days; a bar 45 days old is past 30 + 7.
    const old = new Date(Math.floor(Date.now() / 60_000) * 60_000 - 45 * DAY);
    await withTransaction(pool, (client) =>
      mergeBars(client, [
        {
          symbol: 'EURUSD',
          timeframe: '1m',
          ts: old,
          open: 1,
          high: 1,
          low: 1,
          close: 1,
          volume: 1,
          source: 't',
        },
      ]),
    );
    const result = await runCheck(check('retention.bars'), 5_000);
    expect(result.status).toBe('warn');
    expect(result.reason).toBe('retention_overdue');
    expect(result.message).toContain('market_data.bars 1m: the oldest data is 45d');
    await pool.query('SELECT * FROM backbone.prune_bars(now())');
    expect((await runCheck(check('retention.bars'), 5_000)).status).toBe('ok');
  });

  it('fails when no policy enforces a configured target', async () => {
    await pool.query(
      `UPDATE backbone.partition_policies SET retention = NULL WHERE parent = 'market_data.macro_events'`,
    );
    const result = await runCheck(check('retention.macro_events'), 5_000);
    expect(result.status).toBe('fail');
    expect(result.reason).toBe('retention_not_enforced');
    expect(result.message).toContain(
      'market_data.macro_events: no retention policy enforces the configured 3650 days',
    );
  });
});
