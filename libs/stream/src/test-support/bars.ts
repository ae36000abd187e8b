import type { BarInput } from '@backbone/contracts';
import { utcMidnightDaysAgo } from '@backbone/testing';

const DAY_MS = 86_400_000;

/**
 * Midnight UTC three days ago. The bars must be recent: on TimescaleDB the scheduler's prune job
 * deletes 1m bars past their retention (30 days) whenever it runs, in the middle of a test too.
 */
export const BAR_BASE_MS = utcMidnightDaysAgo(3);

/**
 * The `now` of the tests' bar rules: today's midnight UTC, after every bar the tests make (their
 * minutes stay under three days) and fixed, so that what counts as `ts_in_future` is too.
 */
export function barRulesNow(): Date {
  return new Date(BAR_BASE_MS + 3 * DAY_MS);
}

/**
 * A valid 1m bar: symbol `SYM<symbol>`, ts = base + `minute` minutes, prices derived from both so
 * every (symbol, minute) has distinct, consistent values.
 */
export function validBar(symbol: number, minute: number, overrides: Partial<BarInput> = {}): BarInput {
  const open = 100 + symbol + (minute % 97) / 100;
  return {
    symbol: `SYM${symbol}`,
    timeframe: '1m',
    ts: new Date(BAR_BASE_MS + minute * 60_000).toISOString(),
    open,
    high: open + 0.5,
    low: open - 0.5,
    close: open + 0.25,
    volume: 1000 + minute,
    source: 'feed',
    ...overrides,
  };
}

/** The Kafka record of a bar (key = symbol, value = JSON). */
export function barRecord(bar: BarInput): { key: string; value: string } {
  return { key: bar.symbol, value: JSON.stringify(bar) };
}

/** `{symbol}|{ts}` of a bar as the table returns it, for set comparisons. */
export function barKey(symbol: string, ts: string | Date): string {
  return `${symbol}|${new Date(ts).toISOString()}`;
}
