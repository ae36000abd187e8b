import { testEndpoints as endpoints } from '@backbone/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { testRules } from '../test-support/config.ts';
import { runDrill, type DrillReport } from './run-drill.ts';

const reports: DrillReport[] = [];
afterAll(() => {
  // The measured numbers, for the record of a test run (not asserted: speed is never asserted).
  for (const report of reports) process.stdout.write(`drill --ha ${JSON.stringify(report)}\n`);
});

// One private HA cluster, started and stopped by the drill itself (about 10 s up, 20 s down). The
// load (3000 bars at 100/s, 30 s) outlasts the failover, the old primary's rejoin and the
// switchover (about 20 s here), so both primary changes happen while bars are being written.
describe('the timescale --ha drill against a private Patroni cluster', () => {
  it('fails the primary over under load and switches back; every bar stored exactly once', async () => {
    const { databaseUrl, redisUrl, kafkaBrokers } = endpoints();
    const report = await runDrill('timescale', {
      // Not used with ha: the database is the private cluster's, reached through its HAProxy.
      databaseUrl,
      redisUrl,
      kafkaBrokers,
      ha: true,
      rules: testRules({}, { probeTimeoutMs: 1_000 }),
      totalBars: 3_000,
      ratePerSecond: 100,
      pollIntervalMs: 100,
      timeoutMs: 60_000,
    });
    reports.push(report);

    expect(report).toMatchObject({ target: 'timescale', ha: true, produced: 3_000, stored: 3_000 });
    expect(report.lost).toBe(0);
    expect(report.duplicated).toBe(0);
    expect(report.cacheFresh).toBe(true);
    // Both primary changes came while the feed was still producing.
    expect(report.producedAtCut).toBeGreaterThan(0);
    expect(report.producedAtSwitchover).toBeGreaterThan(report.producedAtCut);
    expect(report.producedAtSwitchover).toBeLessThan(report.produced);

    const phases = report.phases;
    if (phases === undefined) throw new Error('an ha drill reports its phases');
    const { failover, rejoin, switchover } = phases;
    // The failover: the former synchronous standby became the primary.
    expect(failover.newPrimary).not.toBe(failover.oldPrimary);
    expect([failover.oldPrimary, failover.newPrimary].sort()).toEqual(['pg1', 'pg2']);
    expect(report.detectionSeconds).toBeGreaterThan(0);
    expect(report.recoverySeconds).toBeGreaterThan(0);
    expect(failover.promotedMs).toBeLessThanOrEqual(failover.failoverMs);
    // The sink hit the dead primary, retried, and committed again on the new one.
    expect(failover.sinkFailedAttempts).toBeGreaterThan(0);
    expect(failover.sinkResumedMs).toBeGreaterThan(0);
    // The old primary rejoined as synchronous standby: the switchover could hand the primary back to it.
    expect(rejoin.node).toBe(failover.oldPrimary);
    expect(rejoin.rejoinMs).toBeGreaterThan(failover.failoverMs);
    expect(switchover).toMatchObject({ oldPrimary: failover.newPrimary, newPrimary: failover.oldPrimary });
    expect(switchover.rejoinMs).toBeGreaterThan(switchover.failoverMs);
  }, 180_000);
});
