import { afterAll, describe, expect, it } from 'vitest';
import { testRules } from '../test-support/config.ts';
import { testEndpoints as endpoints } from '@backbone/testing';
import { DrillRefusedError, DrillTargetError } from './errors.ts';
import { runDrill, type DrillOptions, type DrillReport, type DrillTarget } from './run-drill.ts';

function drillOptions(): DrillOptions {
  const { databaseUrl, redisUrl, kafkaBrokers } = endpoints();
  // A 1 s probe timeout so a cut is judged quickly; the load runs ~8 s at 150 bars/s.
  return {
    databaseUrl,
    redisUrl,
    kafkaBrokers,
    rules: testRules({}, { probeTimeoutMs: 1_000 }),
    totalBars: 1_200,
    ratePerSecond: 150,
    pollIntervalMs: 100,
    timeoutMs: 20_000,
  };
}

const reports: DrillReport[] = [];
afterAll(() => {
  // The measured numbers, for the record of a test run (not asserted: speed is never asserted).
  for (const report of reports) process.stdout.write(`drill ${JSON.stringify(report)}\n`);
});

describe.each(['timescale', 'redis'] as const)('the %s drill against the local stack', (target) => {
  it('detects the cut and the recovery, loses and duplicates nothing, and the cache is fresh again', async () => {
    expectClean(await runDrill(target, drillOptions()), target);
  }, 60_000);
});

describe('the kafka drill against a private broker', () => {
  // One broker start and one restart (each a JVM start: tens of seconds on a busy machine); the
  // feed's sends block while the broker is down and go through once it is back.
  it('detects the broker stop and the restart, loses and duplicates nothing, and the cache is fresh again', async () => {
    expectClean(await runDrill('kafka', { ...drillOptions(), timeoutMs: 120_000 }), 'kafka');
  }, 420_000);
});

function expectClean(report: DrillReport, target: DrillReport['target']): void {
  reports.push(report);
  expect(report.target).toBe(target);
  expect(report.detectionSeconds).toBeGreaterThan(0);
  expect(report.recoverySeconds).toBeGreaterThan(0);
  expect(report.produced).toBe(1_200);
  // The cut came while the feed was still producing: the load ran across the outage.
  expect(report.producedAtCut).toBeGreaterThan(0);
  expect(report.producedAtCut).toBeLessThan(report.produced);
  expect(report.stored).toBe(report.produced);
  expect(report.lost).toBe(0);
  expect(report.duplicated).toBe(0);
  expect(report.cacheFresh).toBe(true);
}

describe('drill guards', () => {
  it('refuses a non-local stack unless confirmed, naming the hosts', async () => {
    const options = { ...drillOptions(), redisUrl: 'redis://cache.example.com:6379' };
    const refused = runDrill('redis', options);
    await expect(refused).rejects.toBeInstanceOf(DrillRefusedError);
    await expect(refused).rejects.toMatchObject({ hosts: ['cache.example.com'] });
  });

  it('refuses a target it does not know how to cut', async () => {
    await expect(runDrill('bullmq' as DrillTarget, drillOptions())).rejects.toBeInstanceOf(DrillTargetError);
  });
});
