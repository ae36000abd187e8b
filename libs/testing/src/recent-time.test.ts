import { expect, it } from 'vitest';
import { utcMidnightDaysAgo } from './recent-time.ts';

it('is a UTC midnight, the given number of days before the current one', () => {
  const before = Date.now();
  const twoDaysAgo = utcMidnightDaysAgo(2);
  const today = utcMidnightDaysAgo(0);
  expect(new Date(today).toISOString()).toMatch(/T00:00:00\.000Z$/);
  expect(today).toBeLessThanOrEqual(before);
  expect(before - today).toBeLessThan(86_400_000 + 1_000);
  expect(today - twoDaysAgo).toBe(2 * 86_400_000);
});
