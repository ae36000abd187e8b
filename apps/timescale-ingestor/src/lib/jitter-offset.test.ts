import { describe, expect, it } from 'vitest';
import type { Plan } from './plan-requests.ts';
import { jitterOffsetMs } from './timescale-ingestor.ts';

function plan(name: string, jitterSeconds: number): Plan {
  return {
    name,
    provider: 'csv',
    symbols: ['EURUSD'],
    timeframes: ['1d'],
    lookbackDays: 30,
    schedule: { intervalSeconds: 3600, jitterSeconds, maxConsecutiveFailures: 3 },
  };
}

describe('jitterOffsetMs', () => {
  it('is a fixed offset per plan inside [0, jitter): every instance computes the same, plans spread out', () => {
    const names = Array.from({ length: 50 }, (_, index) => `plan-${index}`);
    const offsets = names.map((name) => jitterOffsetMs(plan(name, 120)));
    for (const offset of offsets) {
      expect(Number.isInteger(offset)).toBe(true);
      expect(offset).toBeGreaterThanOrEqual(0);
      expect(offset).toBeLessThan(120_000);
    }
    // Deterministic: a second instance upserting the scheduler gets the same offset.
    expect(names.map((name) => jitterOffsetMs(plan(name, 120)))).toEqual(offsets);
    // Spread: 50 plans do not share a handful of offsets.
    expect(new Set(offsets).size).toBeGreaterThan(45);
  });

  it('is 0 without jitter', () => {
    expect(jitterOffsetMs(plan('fx-daily', 0))).toBe(0);
  });
});
