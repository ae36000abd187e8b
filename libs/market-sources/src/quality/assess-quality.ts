import { nextBarOpen, timeframeMs, type Timeframe } from '@backbone/contracts';
import { assetClassOf, type AssetClass } from '../calendar/asset-class.ts';
import { CalendarRangeError } from '../calendar/calendar-range-error.ts';
import {
  calendarForAssetClass,
  expectedBarTimes,
  type TradingCalendar,
} from '../calendar/trading-calendar.ts';
import { detectFalseTicks, type FalseTick } from './false-ticks.ts';

/** The minimum a bar needs for the quality checks (validated bars from the pipeline fit). */
export interface QualityBar {
  ts: string | Date;
  close: number;
}

export interface QualityOptions {
  calendar: TradingCalendar;
  timeframe: Timeframe;
  /** Inclusive start of the assessed window. */
  from: Date;
  /** Exclusive end of the assessed window (usually `now`, so today's partial bar counts). */
  to: Date;
  now: Date;
  freshnessSlaSeconds: number;
  /** Robust z-score above which a return is flagged. Default 8 (returns are fat-tailed). */
  falseTickK?: number;
  /** At most this many gaps / false ticks are listed; the counts stay exact. Default 50. */
  maxListed?: number;
}

/** A run of consecutive expected bars that did not arrive. */
export interface Gap {
  /** First missing bar (ISO). */
  from: string;
  /** Last missing bar (ISO). */
  to: string;
  missingBars: number;
}

export interface QualityReport {
  calendar: TradingCalendar;
  timeframe: Timeframe;
  from: string;
  to: string;
  /** Bars the trading calendar expects in [from, to); null when the calendar does not cover the window. */
  expectedBars: number | null;
  /** Distinct bars received at expected times. */
  observedBars: number;
  /** Distinct bars received at times the calendar does not expect (weekend, holiday, misaligned). */
  offCalendarBars: number;
  /** observedBars / expectedBars; 1 when nothing was expected; null when the calendar does not cover the window. */
  coverage: number | null;
  gapCount: number;
  gaps: Gap[];
  falseTickK: number;
  falseTickCount: number;
  falseTicks: FalseTick[];
  /** Open time of the newest bar. */
  latestBarTs: string | null;
  /** now − end of the newest bar (seconds, ≥ 0); null when there is no bar. */
  freshnessSeconds: number | null;
  freshnessSlaSeconds: number;
  /** True when a bar the calendar expected should have arrived more than the SLA ago and did not. */
  stale: boolean;
  /** Why some metric could not be computed. */
  warnings: string[];
}

const DEFAULT_K = 8;
const DAY_MS = 86_400_000;
const DEFAULT_MAX_LISTED = 50;

/**
 * The quality of one series (one symbol, one timeframe) over a window: coverage on the trading
 * calendar, gaps, false ticks (median/MAD on log returns) and staleness against the freshness SLA.
 *
 * @example assessQuality(bars, { calendar: 'fx-24x5', timeframe: '1m', from, to: now, now, freshnessSlaSeconds: 900 })
 */
export function assessQuality(bars: readonly QualityBar[], options: QualityOptions): QualityReport {
  const { calendar, timeframe, from, to, now, freshnessSlaSeconds } = options;
  const k = options.falseTickK ?? DEFAULT_K;
  const maxListed = options.maxListed ?? DEFAULT_MAX_LISTED;
  const stepMs = timeframeMs[timeframe];
  const barEnd = (ts: number): number => nextBarOpen(new Date(ts), timeframe).getTime();
  const warnings: string[] = [];

  // Distinct bars by open time inside the window, last one wins (as in the database).
  const byTs = new Map<number, number>();
  for (const bar of bars) {
    const ts = bar.ts instanceof Date ? bar.ts.getTime() : Date.parse(bar.ts);
    if (ts >= from.getTime() && ts < to.getTime()) byTs.set(ts, bar.close);
  }
  const times = [...byTs.keys()].sort((a, b) => a - b);

  let expected: number[] | null = null;
  try {
    expected = expectedBarTimes(calendar, timeframe, from, to);
  } catch (error) {
    if (!(error instanceof CalendarRangeError)) throw error;
    warnings.push(`coverage, gaps and staleness not evaluated: ${error.message}`);
  }

  let observedBars = times.length;
  let offCalendarBars = 0;
  const gaps: Gap[] = [];
  let gapCount = 0;
  if (expected !== null) {
    const expectedSet = new Set(expected);
    offCalendarBars = times.filter((ts) => !expectedSet.has(ts)).length;
    observedBars = times.length - offCalendarBars;
    let runStart: number | undefined;
    let runLength = 0;
    const closeRun = (lastMissing: number): void => {
      if (runStart === undefined) return;
      gapCount += 1;
      if (gaps.length < maxListed) {
        gaps.push({ from: iso(runStart), to: iso(lastMissing), missingBars: runLength });
      }
      runStart = undefined;
      runLength = 0;
    };
    let previous: number | undefined;
    for (const ts of expected) {
      if (byTs.has(ts)) {
        if (previous !== undefined) closeRun(previous);
      } else {
        runStart ??= ts;
        runLength += 1;
      }
      previous = ts;
    }
    if (previous !== undefined) closeRun(previous);
  }

  const series = times.map((ts) => ({ ts: iso(ts), close: byTs.get(ts) ?? Number.NaN }));
  // A return is only comparable when its two bars are neighbours on the calendar: the return over
  // a night, a weekend or a run of missing bars has a larger natural spread and is no false tick.
  let comparable: (index: number) => boolean = () => true;
  if (expected !== null) {
    const position = new Map(expected.map((ts, index) => [ts, index]));
    comparable = (index) => {
      const here = position.get(times[index] ?? Number.NaN);
      const before = position.get(times[index - 1] ?? Number.NaN);
      const adjacent = here !== undefined && before !== undefined && here === before + 1;
      // Intraday neighbours must also be one step apart: the next session's first bar is a
      // neighbour in the list of expected times but follows a break.
      return adjacent && (stepMs >= DAY_MS || (times[index] ?? 0) - (times[index - 1] ?? 0) === stepMs);
    };
  }
  const allTicks = detectFalseTicks(series, k, comparable);

  const latest = times.at(-1);
  const freshnessSeconds =
    latest === undefined ? null : Math.max(0, Math.floor((now.getTime() - barEnd(latest)) / 1000));
  let stale: boolean;
  if (latest === undefined) {
    stale = true;
  } else if (expected === null) {
    stale = freshnessSeconds !== null && freshnessSeconds > freshnessSlaSeconds;
  } else {
    // Only calendar time counts: a bar is overdue once it has closed and the SLA has passed, so a
    // weekend or a holiday never makes FX or equities stale.
    const overdueBefore = now.getTime() - freshnessSlaSeconds * 1000;
    stale = expected.some((ts) => ts > latest && barEnd(ts) <= overdueBefore);
  }

  return {
    calendar,
    timeframe,
    from: iso(from.getTime()),
    to: iso(to.getTime()),
    expectedBars: expected === null ? null : expected.length,
    observedBars,
    offCalendarBars,
    coverage: expected === null ? null : expected.length === 0 ? 1 : observedBars / expected.length,
    gapCount,
    gaps,
    falseTickK: k,
    falseTickCount: allTicks.length,
    falseTicks: allTicks.slice(0, maxListed),
    latestBarTs: latest === undefined ? null : iso(latest),
    freshnessSeconds,
    freshnessSlaSeconds,
    stale,
    warnings,
  };
}

/**
 * `assessQuality` for a mixed batch: groups by symbol and picks each symbol's calendar from its
 * asset class (`assetClassOf`, overridable).
 *
 * @example assessQualityBySymbol(bars, { timeframe: '1d', from, to: now, now, freshnessSlaSeconds: 86_400 }).EURUSD.coverage
 */
export function assessQualityBySymbol(
  bars: readonly (QualityBar & { symbol: string })[],
  options: Omit<QualityOptions, 'calendar'> & {
    assetClassOverrides?: Readonly<Record<string, AssetClass>>;
    /** Symbols that were requested: each gets a report even when no bar arrived for it. */
    symbols?: readonly string[];
  },
): Record<string, QualityReport> {
  const bySymbol = new Map<string, QualityBar[]>();
  for (const symbol of options.symbols ?? []) bySymbol.set(symbol, []);
  for (const bar of bars) {
    const list = bySymbol.get(bar.symbol);
    if (list === undefined) bySymbol.set(bar.symbol, [bar]);
    else list.push(bar);
  }
  const reports: Record<string, QualityReport> = {};
  for (const [symbol, series] of bySymbol) {
    const calendar = calendarForAssetClass(assetClassOf(symbol, options.assetClassOverrides));
    reports[symbol] = assessQuality(series, { ...options, calendar });
  }
  return reports;
}

function iso(ms: number): string {
  return new Date(ms).toISOString().replace('.000Z', 'Z');
}
