import { describe, expect, it } from 'vitest';
import { DEFAULT_BACKOFF, restartDelayMs } from './backoff.ts';

describe('restartDelayMs', () => {
  const policy = { initialMs: 100, factor: 2, maxMs: 5_000, jitter: 0.2 };

  it('doubles the delay with every attempt when the jitter lands in the middle', () => {
    const delays = [1, 2, 3, 4, 5].map((attempt) => restartDelayMs(attempt, policy, () => 0.5));
    expect(delays).toEqual([100, 200, 400, 800, 1_600]);
  });

  it('stays within ±jitter of the exponential base for any random draw', () => {
    for (let attempt = 1; attempt <= 10; attempt++) {
      const base = Math.min(policy.maxMs, policy.initialMs * 2 ** (attempt - 1));
      for (const draw of [0, 0.01, 0.25, 0.5, 0.75, 0.999999]) {
        const delay = restartDelayMs(attempt, policy, () => draw);
        expect(delay).toBeGreaterThanOrEqual(Math.floor(base * 0.8));
        expect(delay).toBeLessThanOrEqual(Math.ceil(base * 1.2));
      }
      expect(restartDelayMs(attempt, policy, () => 0)).toBe(Math.round(base * 0.8));
    }
  });

  it('caps the delay at maxMs before applying the jitter', () => {
    expect(restartDelayMs(30, policy, () => 0.5)).toBe(5_000);
    expect(restartDelayMs(30, policy, () => 0.999999)).toBeLessThanOrEqual(6_000);
  });

  it('has defaults that start small and grow', () => {
    expect(restartDelayMs(1, DEFAULT_BACKOFF, () => 0.5)).toBe(DEFAULT_BACKOFF.initialMs);
    expect(restartDelayMs(2, DEFAULT_BACKOFF, () => 0.5)).toBe(
      DEFAULT_BACKOFF.initialMs * DEFAULT_BACKOFF.factor,
    );
  });
});
