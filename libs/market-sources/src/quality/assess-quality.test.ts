import { describe, expect, it } from 'vitest';
import { expectedBarTimes } from '../calendar/trading-calendar.ts';
import { assessQuality, assessQualityBySymbol } from './assess-quality.ts';
import { detectFalseTicks } from './false-ticks.ts';

/** A deterministic wiggle so returns have a spread (MAD > 0) without randomness. */
const price = (i: number): number => 1.08 * Math.exp(0.0002 * Math.sin(i * 1.7) + 0.0001 * Math.cos(i * 0.3));
const iso = (ms: number): string => new Date(ms).toISOString().replace('.000Z', 'Z');

const week = { from: new Date('2026-11-16T00:00:00Z'), to: new Date('2026-11-21T00:00:00Z') };
const fxMinutes = expectedBarTimes('fx-24x5', '1m', week.from, week.to);
const fullWeek = fxMinutes.map((ts, i) => ({ ts: iso(ts), close: price(i) }));

describe('assessQuality', () => {
  it('reports full coverage, no gaps and no false ticks for a complete clean series', () => {
    const now = new Date('2026-11-20T21:01:30Z');
    // Includes the still-forming 21:01 bar, as the Yahoo provider delivers it.
    const bars = fullWeek.filter((bar) => Date.parse(bar.ts) <= Date.parse('2026-11-20T21:01:00Z'));
    const report = assessQuality(bars, {
      calendar: 'fx-24x5',
      timeframe: '1m',
      from: week.from,
      to: now,
      now,
      freshnessSlaSeconds: 900,
    });
    expect(report.expectedBars).toBe(bars.length);
    expect(report.coverage).toBe(1);
    expect(report.gapCount).toBe(0);
    expect(report.falseTickCount).toBe(0);
    expect(report.latestBarTs).toBe('2026-11-20T21:01:00Z');
    expect(report.freshnessSeconds).toBe(0);
    expect(report.stale).toBe(false);
  });

  it('lists missing ranges as gaps, bounded, with exact counts', () => {
    const missing = new Set([10, 11, 12, 500, 3000, 3001]);
    const bars = fullWeek.filter((_, i) => !missing.has(i));
    const options = {
      calendar: 'fx-24x5' as const,
      timeframe: '1m' as const,
      from: week.from,
      to: week.to,
      now: week.to,
      freshnessSlaSeconds: 900,
    };
    const report = assessQuality(bars, options);
    expect(report.gapCount).toBe(3);
    expect(report.gaps).toEqual([
      { from: iso(fxMinutes[10] ?? 0), to: iso(fxMinutes[12] ?? 0), missingBars: 3 },
      { from: iso(fxMinutes[500] ?? 0), to: iso(fxMinutes[500] ?? 0), missingBars: 1 },
      { from: iso(fxMinutes[3000] ?? 0), to: iso(fxMinutes[3001] ?? 0), missingBars: 2 },
    ]);
    expect(report.coverage).toBeCloseTo((fullWeek.length - 6) / fullWeek.length, 10);
    const bounded = assessQuality(bars, { ...options, maxListed: 1 });
    expect(bounded.gaps).toHaveLength(1);
    expect(bounded.gapCount).toBe(3);
  });

  it('counts weekend bars as off-calendar instead of inflating coverage', () => {
    const saturday = { ts: '2026-11-21T10:00:00Z', close: 1.08 };
    const report = assessQuality([...fullWeek, saturday], {
      calendar: 'fx-24x5',
      timeframe: '1m',
      from: week.from,
      to: new Date('2026-11-22T00:00:00Z'),
      now: new Date('2026-11-22T00:00:00Z'),
      freshnessSlaSeconds: 900,
    });
    expect(report.offCalendarBars).toBe(1);
    expect(report.observedBars).toBe(fullWeek.length);
    expect(report.coverage).toBe(1);
  });

  it('is not stale over the weekend but is stale when open-market bars are overdue', () => {
    const base = {
      calendar: 'fx-24x5' as const,
      timeframe: '1m' as const,
      from: week.from,
      freshnessSlaSeconds: 900,
    };
    const sundayNoon = new Date('2026-11-22T12:00:00Z');
    const weekend = assessQuality(fullWeek, { ...base, to: sundayNoon, now: sundayNoon });
    expect(weekend.stale).toBe(false);
    expect(weekend.freshnessSeconds).toBe(38 * 3600);

    const cut = fullWeek.filter((bar) => Date.parse(bar.ts) < Date.parse('2026-11-18T10:00:00Z'));
    const wednesday = new Date('2026-11-18T10:14:00Z');
    expect(assessQuality(cut, { ...base, to: wednesday, now: wednesday }).stale).toBe(false);
    const later = new Date('2026-11-18T10:16:01Z');
    expect(assessQuality(cut, { ...base, to: later, now: later }).stale).toBe(true);
  });

  it('flags an injected spike as a false tick, once, and honours k', () => {
    const bars = fullWeek
      .slice(0, 2000)
      .map((bar, i) => (i === 1234 ? { ...bar, close: bar.close * 1.02 } : bar));
    const options = {
      calendar: 'fx-24x5' as const,
      timeframe: '1m' as const,
      from: week.from,
      to: week.to,
      now: week.to,
      freshnessSlaSeconds: 900,
    };
    const report = assessQuality(bars, options);
    expect(report.falseTickCount).toBe(1);
    expect(report.falseTicks[0]).toMatchObject({ ts: bars[1234]?.ts, kind: 'spike' });
    expect(assessQuality(bars, { ...options, falseTickK: 1e6 }).falseTickCount).toBe(0);
  });

  it('reports a series with no bars as stale with zero coverage', () => {
    const report = assessQuality([], {
      calendar: 'nyse',
      timeframe: '1d',
      from: new Date('2026-11-02'),
      to: new Date('2026-11-07'),
      now: new Date('2026-11-07'),
      freshnessSlaSeconds: 86_400,
    });
    expect(report).toMatchObject({
      expectedBars: 5,
      observedBars: 0,
      coverage: 0,
      stale: true,
      latestBarTs: null,
    });
    expect(report.gaps).toEqual([
      { from: '2026-11-02T00:00:00Z', to: '2026-11-06T00:00:00Z', missingBars: 5 },
    ]);
  });

  it('says why coverage is missing when the calendar does not know the years', () => {
    const report = assessQuality([{ ts: '2030-01-02T00:00:00Z', close: 500 }], {
      calendar: 'nyse',
      timeframe: '1d',
      from: new Date('2030-01-01'),
      to: new Date('2030-01-05'),
      now: new Date('2030-01-05'),
      freshnessSlaSeconds: 86_400,
    });
    expect(report.coverage).toBeNull();
    expect(report.warnings[0]).toMatch(/NYSE holidays are known for 2024-2027/);
  });
});

describe('detectFalseTicks', () => {
  it('calls a single lasting move a jump, not a spike', () => {
    const series = Array.from({ length: 200 }, (_, i) => ({
      ts: String(i),
      close: price(i) * (i >= 150 ? 1.05 : 1),
    }));
    expect(detectFalseTicks(series, 8)).toEqual([expect.objectContaining({ ts: '150', kind: 'jump' })]);
  });

  it('still finds a spike in a mostly flat series (MAD = 0)', () => {
    const series = Array.from({ length: 100 }, (_, i) => ({
      ts: String(i),
      close: i === 40 ? 2 : i % 10 === 0 ? 1.0001 : 1,
    }));
    expect(detectFalseTicks(series, 8).map((t) => t.ts)).toEqual(['40']);
  });
});

describe('assessQualityBySymbol', () => {
  it('picks the calendar by asset class and reports requested symbols that got no bars', () => {
    const bars = [
      { symbol: 'EURUSD', ts: '2026-11-16T00:00:00Z', close: 1.08 },
      { symbol: 'SPY', ts: '2026-11-16T00:00:00Z', close: 590 },
    ];
    const reports = assessQualityBySymbol(bars, {
      symbols: ['EURUSD', 'SPY', 'GBPUSD'],
      timeframe: '1d',
      from: new Date('2026-11-16'),
      to: new Date('2026-11-17'),
      now: new Date('2026-11-17'),
      freshnessSlaSeconds: 86_400,
    });
    expect(reports.EURUSD?.calendar).toBe('fx-24x5');
    expect(reports.SPY?.calendar).toBe('nyse');
    expect(reports.GBPUSD).toMatchObject({ calendar: 'fx-24x5', observedBars: 0, coverage: 0 });
  });
});
