import type { BarInput } from '@backbone/contracts';

const BASE_MS = Date.parse('2026-01-05T00:00:00Z');

/**
 * A valid 1m bar: symbol `SYM<symbol>`, ts = base + `minute` minutes, prices derived from both so
 * every (symbol, minute) has distinct, consistent values.
 */
export function validBar(symbol: number, minute: number, overrides: Partial<BarInput> = {}): BarInput {
  const open = 100 + symbol + (minute % 97) / 100;
  return {
    symbol: `SYM${symbol}`,
    timeframe: '1m',
    ts: new Date(BASE_MS + minute * 60_000).toISOString(),
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
