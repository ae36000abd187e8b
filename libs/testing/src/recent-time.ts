const DAY_MS = 86_400_000;

/**
 * Midnight UTC `days` days before today, in epoch milliseconds: where tests put market data that
 * must stay stored. On TimescaleDB the scheduler enforces retention (1m bars: 30 days) whenever
 * its jobs run, in the middle of a test too, so fixed dates in the past are deleted sooner or later.
 *
 * @example const firstBarMs = utcMidnightDaysAgo(2);
 */
export function utcMidnightDaysAgo(days: number): number {
  return (Math.floor(Date.now() / DAY_MS) - days) * DAY_MS;
}
