/**
 * The shapes that leave a provider. Everything here is UNVALIDATED: a provider only turns its
 * wire format into these rows; the ingest pipeline validates them with the @backbone/contracts
 * rules (symbol pattern, high >= low, finite prices, ts aligned to the timeframe) and counts
 * every rejection with its reason.
 */

import type { Timeframe } from '@backbone/contracts';

/** One bar as a provider delivered it; `ts` is an ISO-8601 UTC string (the bar's open time). */
export interface UnvalidatedBar {
  symbol: string;
  timeframe: string;
  ts: string;
  open: number | null;
  high: number | null;
  low: number | null;
  close: number | null;
  volume: number | null;
  /** The provider that delivered the row (`csv`, `yahoo`, …). */
  source: string;
}

/**
 * Why a provider could not even turn an input record into an unvalidated row.
 * `impossible_timestamp`: a date or time that does not exist (`2024-02-30`, `2024-13-01`,
 * `24:00`), or an epoch outside the representable range; never rolled over to another instant.
 * `control_character`: a NUL, bare CR or other control character inside a field.
 */
export type SourceRejectionReason =
  | 'column_count'
  | 'unparsable_number'
  | 'unparsable_timestamp'
  | 'impossible_timestamp'
  | 'control_character'
  | 'missing_field'
  | 'empty_bar';

/** A counted rejection at the source, with where it happened and why. */
export interface SourceRejection {
  source: string;
  /** Human-readable location: `file.csv:12`, `yahoo EURUSD=X[37]`. */
  location: string;
  /** 1-based line number for line-oriented sources. */
  line?: number;
  reason: SourceRejectionReason;
  detail: string;
}

/** A slice of a provider's answer: the rows it produced and the records it had to reject. */
export interface UnvalidatedBarBatch {
  /** The provider that served these rows (after failover, the one that actually answered). */
  source: string;
  rows: UnvalidatedBar[];
  rejections: SourceRejection[];
  /** Providers that failed for this slice before `source` answered (failover). */
  failedOver?: ProviderFailure[];
  /** How the rows were merged from several sources (merging provider only). */
  merge?: MergeReport;
}

/** Two sources disagree on the close of the same bar by more than the threshold. */
export interface DriftFinding {
  symbol: string;
  timeframe: string;
  ts: string;
  chosen: { source: string; close: number };
  other: { source: string; close: number };
  /** |other − chosen| / |chosen| */
  relativeDifference: number;
}

/** What a merging provider did for one slice of a request. */
export interface MergeReport {
  /** The sources asked, in priority order (most trusted first). */
  sources: string[];
  /** How many merged rows each source supplied. */
  rowsBySource: Record<string, number>;
  /**
   * Rows the sources delivered that are not in the merged answer because a more trusted source
   * (or the same source, later) had the same bar: delivered = merged rows + superseded.
   */
  superseded: number;
  /** Bars where a less trusted source's close differs from the chosen one beyond the threshold. */
  driftCount: number;
  /** The first drift findings (at most `maxListed`); `driftCount` is exact. */
  drift: DriftFinding[];
  /** Sources that failed for this slice; the merge went on with the ones that answered. */
  failed: ProviderFailure[];
}

/** A provider that failed, as reported by failover. */
export interface ProviderFailure {
  provider: string;
  symbols: readonly string[];
  error: Error;
}

/**
 * What to fetch. `from` is inclusive; `to` is inclusive of the bar that contains it and
 * defaults to "now", so today's still-forming bar is part of the answer.
 */
export interface BarRequest {
  /** Canonical symbols (`EURUSD`, `SPY`). An empty list means "every symbol the source has" (csv only). */
  symbols: readonly string[];
  timeframe: Timeframe;
  from: Date;
  to?: Date;
}

/**
 * One source of OHLCV bars.
 *
 * @example for await (const batch of provider.fetchBars({ symbols: ['EURUSD'], timeframe: '1d', from }, signal)) …
 */
export interface MarketDataProvider {
  readonly name: string;
  fetchBars(request: BarRequest, signal?: AbortSignal): AsyncIterable<UnvalidatedBarBatch>;
}

/** One macro calendar entry, with the value released on that date when it is known. */
export interface UnvalidatedMacroEvent {
  source: string;
  /** Stable per (source, event): `PAYEMS@2026-11-06` is the PAYEMS value released on 2026-11-06. */
  eventId: string;
  /** Release time (ISO-8601 UTC). */
  ts: string;
  name: string;
  /** The calendar the event belongs to, e.g. `us`. */
  calendar: string;
  currency: string;
  actual: number | null;
  forecast: number | null;
  previous: number | null;
  importance: 'low' | 'medium' | 'high';
  /** 0 for the first release of a value, +1 per revision. */
  revision: number;
}

export interface MacroRequest {
  from: Date;
  to: Date;
}

export interface UnvalidatedMacroEventBatch {
  source: string;
  events: UnvalidatedMacroEvent[];
  /** Release entries or observations the provider could not read (e.g. an impossible date), counted. */
  rejections: SourceRejection[];
}

/**
 * One source of macro calendar events with actual values.
 *
 * @example for await (const batch of fred.fetchEvents({ from, to }, signal)) …
 */
export interface MacroEventProvider {
  readonly name: string;
  fetchEvents(request: MacroRequest, signal?: AbortSignal): AsyncIterable<UnvalidatedMacroEventBatch>;
}
