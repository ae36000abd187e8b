import { z } from 'zod';

/** Every bar timeframe the backbone stores, shortest first. */
export const TIMEFRAMES = ['1m', '5m', '15m', '30m', '1h', '4h', '1d', '1wk', '1mo'] as const;

/** @example timeframeSchema.parse('1h') // '1h' */
export const timeframeSchema = z
  .enum(TIMEFRAMES)
  .meta({ description: 'Bar timeframe. ts is the bar open time, aligned to this timeframe in UTC.' });
export type Timeframe = z.infer<typeof timeframeSchema>;

const MINUTE_MS = 60_000;
const HOUR_MS = 60 * MINUTE_MS;
const DAY_MS = 24 * HOUR_MS;

/**
 * Nominal duration of each timeframe in milliseconds. `1mo` is nominally 30 days; calendar
 * months vary, so step to the next bar with {@link nextBarOpen}, not with this number.
 *
 * @example timeframeMs['5m'] // 300_000
 */
export const timeframeMs = {
  '1m': MINUTE_MS,
  '5m': 5 * MINUTE_MS,
  '15m': 15 * MINUTE_MS,
  '30m': 30 * MINUTE_MS,
  '1h': HOUR_MS,
  '4h': 4 * HOUR_MS,
  '1d': DAY_MS,
  '1wk': 7 * DAY_MS,
  '1mo': 30 * DAY_MS,
} as const satisfies Record<Timeframe, number>;

/** True when `value` names a known timeframe. */
export function isTimeframe(value: unknown): value is Timeframe {
  return typeof value === 'string' && (TIMEFRAMES as readonly string[]).includes(value);
}

// 1970-01-01 (epoch day 0) was a Thursday: three days after the Monday that starts its ISO week.
const EPOCH_DAYS_AFTER_MONDAY = 3;

/**
 * The open time of the bar of `timeframe` that contains `ts`, in UTC. Intraday timeframes align
 * to multiples of their duration since midnight UTC, `1d` to 00:00 UTC, `1wk` to Monday 00:00 UTC,
 * `1mo` to the 1st of the month 00:00 UTC.
 *
 * @example alignTimestamp(new Date('2026-11-26T15:34:12Z'), '5m') // 2026-11-26T15:30:00.000Z
 */
export function alignTimestamp(ts: Date, timeframe: Timeframe): Date {
  const ms = ts.getTime();
  switch (timeframe) {
    case '1wk': {
      const days = Math.floor(ms / DAY_MS);
      const daysSinceMonday = (((days + EPOCH_DAYS_AFTER_MONDAY) % 7) + 7) % 7;
      return new Date((days - daysSinceMonday) * DAY_MS);
    }
    case '1mo':
      return new Date(Date.UTC(ts.getUTCFullYear(), ts.getUTCMonth(), 1));
    default: {
      const step = timeframeMs[timeframe];
      return new Date(Math.floor(ms / step) * step);
    }
  }
}

/** True when `ts` is exactly the open time of a `timeframe` bar. */
export function isAligned(ts: Date, timeframe: Timeframe): boolean {
  return alignTimestamp(ts, timeframe).getTime() === ts.getTime();
}

/**
 * The open time of the bar after the one that contains `ts` (calendar-exact for `1mo`).
 *
 * @example nextBarOpen(new Date('2026-01-31T10:00:00Z'), '1mo') // 2026-02-01T00:00:00.000Z
 */
export function nextBarOpen(ts: Date, timeframe: Timeframe): Date {
  const open = alignTimestamp(ts, timeframe);
  if (timeframe === '1mo') return new Date(Date.UTC(open.getUTCFullYear(), open.getUTCMonth() + 1, 1));
  return new Date(open.getTime() + timeframeMs[timeframe]);
}
