import { alignTimestamp, isAligned, parseBar, timeframeMs, type Timeframe } from '@backbone/contracts';
import { describe, expect, it } from 'vitest';
import { createBarFeed, defaultFeedStart, type FeedBar } from './generate.ts';

const start = new Date('2026-01-05T00:00:00Z');

function take(
  count: number,
  options: { seed?: number; timeframe?: Timeframe; symbols?: string[] } = {},
): FeedBar[] {
  const feed = createBarFeed({
    symbols: options.symbols ?? ['EURUSD', 'GBPUSD', 'USDJPY'],
    timeframe: options.timeframe ?? '1m',
    seed: options.seed ?? 42,
    start,
  });
  return Array.from({ length: count }, () => feed.next());
}

describe('createBarFeed', () => {
  it('is deterministic for a seed and differs between seeds', () => {
    expect(take(500, { seed: 7 })).toEqual(take(500, { seed: 7 }));
    expect(take(500, { seed: 7 })).not.toEqual(take(500, { seed: 8 }));
  });

  it('emits bars every contract rule accepts, in the exact wire shape', () => {
    const now = () => new Date('2030-01-01T00:00:00Z');
    const rules = { now, maxFutureSkewMs: 0 };
    const rejected = take(20_000)
      .map((bar) => parseBar(JSON.parse(JSON.stringify(bar)), rules))
      .filter((result) => !result.ok);
    expect(rejected).toEqual([]);
    expect(Object.keys(take(1)[0] ?? {})).toEqual([
      'symbol',
      'timeframe',
      'ts',
      'open',
      'high',
      'low',
      'close',
      'volume',
      'source',
    ]);
    expect(take(1)[0]).toMatchObject({ ts: '2026-01-05T00:00:00Z', source: 'feed' });
  });

  it('keeps OHLC consistent, prices positive, volume a non-negative integer, open = previous close', () => {
    const lastClose = new Map<string, number>();
    const violations: string[] = [];
    for (const bar of take(30_000, { seed: 3 })) {
      const previous = lastClose.get(bar.symbol);
      const ok =
        bar.low > 0 &&
        bar.low <= Math.min(bar.open, bar.close) &&
        bar.high >= Math.max(bar.open, bar.close) &&
        Number.isInteger(bar.volume) &&
        bar.volume >= 0 &&
        (previous === undefined || bar.open === previous);
      if (!ok) violations.push(JSON.stringify(bar));
      lastClose.set(bar.symbol, bar.close);
    }
    expect(violations).toEqual([]);
  });

  it.each(['1m', '5m', '1h', '1d', '1wk', '1mo'] as const)(
    'steps each symbol one aligned %s bar at a time, round-robin over symbols',
    (timeframe) => {
      const bars = take(60, { timeframe });
      expect(bars.slice(0, 3).map((bar) => bar.symbol)).toEqual(['EURUSD', 'GBPUSD', 'USDJPY']);
      const bySymbol = Map.groupBy(bars, (bar) => bar.symbol);
      for (const series of bySymbol.values()) {
        expect(series).toHaveLength(20);
        for (const [index, bar] of series.entries()) {
          expect(isAligned(new Date(bar.ts), timeframe)).toBe(true);
          if (index > 0) expect(Date.parse(bar.ts)).toBeGreaterThan(Date.parse(series[index - 1]?.ts ?? ''));
        }
        if (timeframe !== '1mo') {
          const span = Date.parse(series.at(-1)?.ts ?? '') - Date.parse(series[0]?.ts ?? '');
          expect(span).toBe(19 * timeframeMs[timeframe]);
        }
      }
    },
  );

  it('aligns an unaligned start down to the timeframe and reports the last ts per symbol', () => {
    const feed = createBarFeed({
      symbols: ['A', 'B'],
      timeframe: '5m',
      seed: 1,
      start: new Date('2026-01-05T10:07:31Z'),
    });
    for (let i = 0; i < 5; i += 1) feed.next();
    expect(feed.generated).toBe(5);
    expect(feed.lastTsBySymbol()).toEqual({ A: '2026-01-05T10:15:00Z', B: '2026-01-05T10:10:00Z' });
  });

  it('refuses an empty symbol list', () => {
    expect(() => createBarFeed({ symbols: [], timeframe: '1m', seed: 1, start })).toThrow(
      /at least one symbol/,
    );
  });
});

describe('defaultFeedStart', () => {
  it('puts the last bar of every symbol at least one timeframe before now', () => {
    const now = new Date('2026-11-26T15:34:12Z');
    for (const timeframe of ['1m', '1h', '1d', '1wk', '1mo'] as const) {
      const first = defaultFeedStart(now, timeframe, 1001, 4);
      expect(isAligned(first, timeframe)).toBe(true);
      const feed = createBarFeed({ symbols: ['A', 'B', 'C', 'D'], timeframe, seed: 1, start: first });
      for (let i = 0; i < 1001; i += 1) feed.next();
      const lastTs = Object.values(feed.lastTsBySymbol()).map((ts) => Date.parse(ts));
      expect(lastTs).toHaveLength(4);
      // Before the open of the bar that contains now: that bar is still forming.
      for (const ts of lastTs) expect(ts).toBeLessThan(alignTimestamp(now, timeframe).getTime());
    }
  });
});
