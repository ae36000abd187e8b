import type { SystemConfig } from '@backbone/config';
import { isTimeframe, nextBarOpen, timeframeMs, type IngestQuality } from '@backbone/contracts';
import { redactText } from '@backbone/config';
import {
  assessQuality,
  assetClassOf,
  calendarForAssetClass,
  type DriftFinding,
  type MergeReport,
  type ProviderFailure,
  type QualityReport,
} from '@backbone/market-sources';

/** The quality of one series (symbol, timeframe) in a run. */
export interface SeriesQuality {
  symbol: string;
  timeframe: string;
  calendar: string | null;
  /** Coverage window `[from, to)`: the requested window, or the data's own extent for files. */
  from: string;
  to: string;
  expectedBars: number | null;
  observedBars: number;
  coverage: number | null;
  gaps: number;
  falseTicks: number;
  latestBarTs: string | null;
  freshnessSeconds: number | null;
  freshnessSlaSeconds: number;
  stale: boolean;
  warnings: string[];
}

/** The quality section of a run's result: the contract's summary numbers plus every series. */
export interface RunQuality {
  /** Observed / expected bars over every series with a calendar; absent when none has one. */
  coverage?: number;
  gaps: number;
  falseTicks: number;
  stale: number;
  series: SeriesQuality[];
  /** Merged runs only: how the sources were merged and where they disagreed. */
  merge?: MergeQuality;
  /** Sources that failed while another one served the bars (failover or merge); absent when none. */
  failedSources?: FailedSource[];
}

/** The cross-source section of a merged run (`--merge-with`, plan `mergeWith`). */
export interface MergeQuality {
  /** The sources in priority order, most trusted first. */
  sources: string[];
  driftThresholdPct: number;
  /** Merged bars each source supplied (before contract validation). */
  rowsBySource: Record<string, number>;
  /** Delivered bars not used because a more trusted source had the same bar. */
  superseded: number;
  /** Bars where a less trusted source's close differs from the stored one beyond the threshold. */
  drift: number;
  /** The first drift findings (at most {@link MAX_DRIFT_SAMPLES}); `drift` is exact. */
  driftSamples: DriftFinding[];
}

/** A source that failed for some symbols; its (partial) answer was not used. */
export interface FailedSource {
  provider: string;
  symbols: string[];
  error: string;
}

/** Drift findings kept in a run's quality report; the count is always exact. */
export const MAX_DRIFT_SAMPLES = 20;

/** Adds up the merge reports and source failures of a run's chunks. */
export class SourcesCollector {
  readonly #merge: MergeQuality | undefined;
  readonly #failed: FailedSource[] = [];

  constructor(merge?: { sources: readonly string[]; driftThresholdPct: number }) {
    this.#merge =
      merge === undefined
        ? undefined
        : {
            sources: [...merge.sources],
            driftThresholdPct: merge.driftThresholdPct,
            rowsBySource: Object.fromEntries(merge.sources.map((source) => [source, 0])),
            superseded: 0,
            drift: 0,
            driftSamples: [],
          };
  }

  add(chunk: { merges?: readonly MergeReport[]; sourceFailures?: readonly ProviderFailure[] }): void {
    for (const failure of chunk.sourceFailures ?? []) {
      this.#failed.push({
        provider: failure.provider,
        symbols: [...failure.symbols],
        error: redactText(failure.error.message).slice(0, 500),
      });
    }
    const merge = this.#merge;
    if (merge === undefined) return;
    for (const report of chunk.merges ?? []) {
      for (const [source, rows] of Object.entries(report.rowsBySource)) {
        merge.rowsBySource[source] = (merge.rowsBySource[source] ?? 0) + rows;
      }
      merge.superseded += report.superseded;
      merge.drift += report.driftCount;
      for (const finding of report.drift) {
        if (merge.driftSamples.length < MAX_DRIFT_SAMPLES) merge.driftSamples.push(finding);
      }
    }
  }

  /** The sections to add to the run's quality report. */
  report(): Pick<RunQuality, 'merge' | 'failedSources'> {
    return {
      ...(this.#merge === undefined ? {} : { merge: this.#merge }),
      ...(this.#failed.length === 0 ? {} : { failedSources: this.#failed }),
    };
  }
}

/** The contract's summary of a run's quality (the ingest-run event carries numbers only). */
export function eventQuality(quality: RunQuality): IngestQuality {
  return {
    ...(quality.coverage === undefined ? {} : { coverage: quality.coverage }),
    gaps: quality.gaps,
    falseTicks: quality.falseTicks,
    stale: quality.stale,
    series: quality.series.length,
    ...(quality.merge === undefined
      ? {}
      : { drift: quality.merge.drift, superseded: quality.merge.superseded }),
    ...(quality.merge === undefined && quality.failedSources === undefined
      ? {}
      : { failedSources: quality.failedSources?.length ?? 0 }),
  };
}

/** Collects (ts, close) per series while a run streams, for the report at its end. */
export class QualityCollector {
  readonly #series = new Map<string, { symbol: string; timeframe: string; ts: number[]; close: number[] }>();

  add(bar: { symbol: string; timeframe: string; ts: string; close: number }): void {
    const key = `${bar.symbol}\u0000${bar.timeframe}`;
    let series = this.#series.get(key);
    if (series === undefined) {
      series = { symbol: bar.symbol, timeframe: bar.timeframe, ts: [], close: [] };
      this.#series.set(key, series);
    }
    series.ts.push(Date.parse(bar.ts));
    series.close.push(bar.close);
  }

  /** Symbols that have at least one valid bar. */
  symbols(): string[] {
    return [...new Set([...this.#series.values()].map((series) => series.symbol))].sort();
  }

  /** The newest bar's open time over every series, in ms; undefined when there is none. */
  latestTs(): number | undefined {
    let latest: number | undefined;
    for (const series of this.#series.values()) {
      for (const ts of series.ts) if (latest === undefined || ts > latest) latest = ts;
    }
    return latest;
  }

  /**
   * Coverage, gaps and false ticks on each series' trading calendar over `window` (or the
   * series' own extent), and staleness of its newest bar against the freshness SLA at `now`.
   */
  report(options: {
    window: { from: Date; to: Date } | undefined;
    now: Date;
    readiness: SystemConfig['readiness'];
    /** Requested symbols with no valid bar still get a (stale, empty) series. */
    expected?: { symbols: readonly string[]; timeframe: string };
  }): RunQuality {
    const series = [...this.#series.values()];
    for (const symbol of options.expected?.symbols ?? []) {
      if (!series.some((s) => s.symbol === symbol)) {
        series.push({ symbol, timeframe: options.expected?.timeframe ?? '1d', ts: [], close: [] });
      }
    }
    const reports = series
      .sort((a, b) => a.symbol.localeCompare(b.symbol) || a.timeframe.localeCompare(b.timeframe))
      .map((s) => seriesQuality(s, options));
    let expectedTotal = 0;
    let observedTotal = 0;
    let covered = false;
    for (const report of reports) {
      if (report.expectedBars === null) continue;
      covered = true;
      expectedTotal += report.expectedBars;
      observedTotal += report.observedBars;
    }
    return {
      ...(covered ? { coverage: expectedTotal === 0 ? 1 : round(observedTotal / expectedTotal) } : {}),
      gaps: reports.reduce((sum, report) => sum + report.gaps, 0),
      falseTicks: reports.reduce((sum, report) => sum + report.falseTicks, 0),
      stale: reports.filter((report) => report.stale).length,
      series: reports,
    };
  }
}

function seriesQuality(
  series: { symbol: string; timeframe: string; ts: number[]; close: number[] },
  options: { window: { from: Date; to: Date } | undefined; now: Date; readiness: SystemConfig['readiness'] },
): SeriesQuality {
  const { timeframe, symbol } = series;
  const sla = freshnessSlaSeconds(timeframe, options.readiness);
  let first = Number.POSITIVE_INFINITY;
  let last = Number.NEGATIVE_INFINITY;
  for (const ts of series.ts) {
    if (ts < first) first = ts;
    if (ts > last) last = ts;
  }
  if (!isTimeframe(timeframe)) {
    return {
      symbol,
      timeframe,
      calendar: null,
      from: iso(options.window?.from.getTime() ?? first),
      to: iso(options.window?.to.getTime() ?? last),
      expectedBars: null,
      observedBars: new Set(series.ts).size,
      coverage: null,
      gaps: 0,
      falseTicks: 0,
      latestBarTs: series.ts.length === 0 ? null : iso(last),
      freshnessSeconds: null,
      freshnessSlaSeconds: sla,
      stale: false,
      warnings: [`no trading calendar for timeframe ${timeframe}: quality not evaluated`],
    };
  }
  const calendar = calendarForAssetClass(assetClassOf(symbol));
  const bars = series.ts.map((ts, index) => ({ ts: new Date(ts), close: series.close[index] ?? Number.NaN }));
  const window =
    options.window ??
    (series.ts.length === 0
      ? { from: options.now, to: options.now }
      : { from: new Date(first), to: nextBarOpen(new Date(last), timeframe) });
  const coverage = assessQuality(bars, {
    calendar,
    timeframe,
    from: window.from,
    to: window.to,
    now: options.now,
    freshnessSlaSeconds: sla,
  });
  // Staleness is about "now", not about the window: was a bar due since the newest one arrived?
  const freshness: QualityReport =
    series.ts.length === 0
      ? coverage
      : assessQuality([{ ts: new Date(last), close: 1 }], {
          calendar,
          timeframe,
          from: new Date(last),
          // Any trading calendar has a session within two weeks: looking further only costs time
          // (an old series would otherwise expand years of expected bars just to say "stale").
          to: new Date(
            Math.max(
              Math.min(options.now.getTime(), last + STALENESS_HORIZON_MS),
              nextBarOpen(new Date(last), timeframe).getTime(),
            ),
          ),
          now: options.now,
          freshnessSlaSeconds: sla,
        });
  return {
    symbol,
    timeframe,
    calendar,
    from: coverage.from,
    to: coverage.to,
    expectedBars: coverage.expectedBars,
    observedBars: coverage.observedBars,
    coverage: coverage.coverage === null ? null : round(coverage.coverage),
    gaps: coverage.gapCount,
    falseTicks: coverage.falseTickCount,
    latestBarTs: coverage.latestBarTs,
    freshnessSeconds: freshness.freshnessSeconds,
    freshnessSlaSeconds: sla,
    stale: freshness.stale,
    warnings: [...new Set([...coverage.warnings, ...freshness.warnings])],
  };
}

/** The SLA of a timeframe: `daily` for 1d and longer, `intraday` below. */
export function freshnessSlaSeconds(timeframe: string, readiness: SystemConfig['readiness']): number {
  const intraday = isTimeframe(timeframe) && timeframeMs[timeframe] < 86_400_000;
  return intraday ? readiness.freshnessSlaSeconds.intraday : readiness.freshnessSlaSeconds.daily;
}

const STALENESS_HORIZON_MS = 14 * 86_400_000;

function round(value: number): number {
  return Math.round(value * 10_000) / 10_000;
}

function iso(ms: number): string {
  return Number.isFinite(ms) ? new Date(ms).toISOString() : new Date(0).toISOString();
}
