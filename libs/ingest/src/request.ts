import { existsSync, statSync } from 'node:fs';
import { isTimeframe, symbolSchema, type Timeframe } from '@backbone/contracts';
import { parseIsoInstant, type FredSeriesSpec } from '@backbone/market-sources';
import { IngestUsageError, type UsageProblem } from './errors/ingest-usage-error.ts';
import { DEFAULT_FRED_SERIES } from './fred-series.ts';

/** The bar providers the pipeline runs (`fred` serves macro events, see docs/ingestor.md). */
export const BAR_PROVIDERS = ['csv', 'yahoo'] as const;
export type BarProviderName = (typeof BAR_PROVIDERS)[number];

/** A closed-open time range `[from, to)`. */
export interface IngestWindow {
  from: Date;
  to: Date;
}

/** Whole CSV files in the fixture format; every line is stored or rejected with a reason. */
export interface CsvIngestRequest {
  provider: 'csv';
  files: readonly string[];
}

/** Bars of some symbols over a window from an HTTP provider, optionally failing over to another. */
export interface HttpIngestRequest {
  provider: 'yahoo';
  symbols: readonly string[];
  timeframe: Timeframe;
  window: IngestWindow;
  /** A different provider asked when `provider` fails for a symbol. */
  fallbackProvider?: BarProviderName;
  /** Further providers asked for every symbol and merged after `provider`, by priority (never with a fallback). */
  mergeWith?: BarProviderName[];
  /** Close difference between merged sources, in percent, counted as drift (default 0.5). */
  driftThresholdPct?: number;
}

/** Macro calendar events (FRED releases of the chosen series) over a window; dimension `macro`. */
export interface FredIngestRequest {
  provider: 'fred';
  series: readonly FredSeriesSpec[];
  window: IngestWindow;
}

/** The requests whose records are bars. */
export type BarIngestRequest = CsvIngestRequest | HttpIngestRequest;

/** What one ingest run fetches. Build it with {@link parseIngestRequest} from untrusted input. */
export type IngestRequest = BarIngestRequest | FredIngestRequest;

/** Unvalidated options as the CLI (or any caller with strings) has them. */
export interface UnvalidatedIngestOptions {
  provider?: string | undefined;
  files?: readonly string[] | undefined;
  symbols?: string | readonly string[] | undefined;
  timeframe?: string | undefined;
  from?: string | undefined;
  to?: string | undefined;
  /** A different bar provider asked for the symbols `provider` fails on (yahoo only). */
  fallback?: string | undefined;
  /** Bar providers merged after `provider` by priority, comma-separated or a list (yahoo only). */
  mergeWith?: string | readonly string[] | undefined;
  /** Drift threshold of a merge, in percent of the chosen close. */
  driftThresholdPct?: string | number | undefined;
}

const DAY_MS = 86_400_000;
/** The contract timeframes Yahoo's chart API serves (it has no 4-hour interval). */
const YAHOO_TIMEFRAMES = ['1m', '5m', '15m', '30m', '1h', '1d', '1wk', '1mo'] as const;

/**
 * Checks ingest options and names every problem at once (exit code 2 in the CLI). Dates are
 * `YYYY-MM-DD` (UTC; a date-only `to` includes that whole day) or ISO-8601 with a zone.
 *
 * @example parseIngestRequest({ provider: 'yahoo', symbols: 'EURUSD,SPY', timeframe: '1d', from: '2026-01-01' }, new Date())
 */
export function parseIngestRequest(options: UnvalidatedIngestOptions, now: Date): IngestRequest {
  const problems: UsageProblem[] = [];
  const provider = options.provider;
  if (provider === undefined || provider === '') {
    throw new IngestUsageError([{ field: 'provider', message: `is required (one of csv, yahoo, fred)` }]);
  }
  if (provider === 'fred') return parseFredRequest(options, now);
  if (provider === 'csv') {
    const files = options.files ?? [];
    if (files.length === 0) problems.push({ field: 'file', message: 'is required with --provider csv' });
    files.forEach((file, index) => {
      const field = files.length === 1 ? 'file' : `file[${index}]`;
      if (!existsSync(file)) problems.push({ field, message: `${file} does not exist` });
      else if (!statSync(file).isFile()) problems.push({ field, message: `${file} is not a file` });
    });
    for (const field of [
      'symbols',
      'timeframe',
      'from',
      'to',
      'fallback',
      'mergeWith',
      'driftThresholdPct',
    ] as const) {
      if (options[field] !== undefined) {
        problems.push({
          field,
          message:
            'is not used with --provider csv: a CSV file is ingested whole, every line stored or rejected',
        });
      }
    }
    if (problems.length > 0) throw new IngestUsageError(problems);
    return { provider: 'csv', files: [...files] };
  }
  if (provider !== 'yahoo') {
    throw new IngestUsageError([
      { field: 'provider', message: `unknown provider "${provider.slice(0, 40)}" (one of csv, yahoo, fred)` },
    ]);
  }
  if (options.files !== undefined && options.files.length > 0) {
    problems.push({ field: 'file', message: 'is only used with --provider csv' });
  }
  const symbols = parseSymbols(options.symbols, problems);
  const timeframe = options.timeframe ?? '1d';
  const supported = isTimeframe(timeframe) && (YAHOO_TIMEFRAMES as readonly string[]).includes(timeframe);
  if (!supported) {
    problems.push({
      field: 'timeframe',
      message: `"${timeframe.slice(0, 20)}" is not one of ${YAHOO_TIMEFRAMES.join(', ')}`,
    });
  }
  const { from, to } = parseWindow(options, 'yahoo', now, problems);
  const fallback = parseFallback(options.fallback, provider, problems);
  const merge = parseMerge(options, provider, problems);
  if (
    problems.length > 0 ||
    from === undefined ||
    to === undefined ||
    !supported ||
    !isTimeframe(timeframe)
  ) {
    throw new IngestUsageError(problems);
  }
  return {
    provider: 'yahoo',
    symbols,
    timeframe,
    window: { from, to },
    ...(fallback === undefined ? {} : { fallbackProvider: fallback }),
    ...merge,
  };
}

/** The providers merged after the primary (distinct bar providers, never with a fallback). */
function parseMerge(
  options: UnvalidatedIngestOptions,
  provider: BarProviderName,
  problems: UsageProblem[],
): { mergeWith?: BarProviderName[]; driftThresholdPct?: number } {
  let threshold: number | undefined;
  if (options.driftThresholdPct !== undefined) {
    const text = String(options.driftThresholdPct).trim();
    threshold = Number(text);
    if (text === '' || !Number.isFinite(threshold) || threshold <= 0 || threshold > 100) {
      problems.push({
        field: 'driftThresholdPct',
        message: 'must be a number above 0 and at most 100 (percent)',
      });
      threshold = undefined;
    }
    if (options.mergeWith === undefined) {
      problems.push({ field: 'driftThresholdPct', message: 'is only used with mergeWith' });
    }
  }
  if (options.mergeWith === undefined) return {};
  const raw = typeof options.mergeWith === 'string' ? options.mergeWith.split(',') : [...options.mergeWith];
  const listed = raw.map((name) => name.trim()).filter((name) => name !== '');
  if (listed.length === 0) {
    problems.push({ field: 'mergeWith', message: 'names no provider (a comma-separated list such as csv)' });
  }
  const sources: BarProviderName[] = [];
  listed.forEach((name, index) => {
    const field = listed.length === 1 ? 'mergeWith' : `mergeWith[${index}]`;
    if (!(BAR_PROVIDERS as readonly string[]).includes(name)) {
      problems.push({
        field,
        message: `"${name.slice(0, 40)}" is not a bar provider (one of ${BAR_PROVIDERS.join(', ')})`,
      });
    } else if (name === provider) {
      problems.push({
        field,
        message: `must differ from --provider (${provider}): a source merged with itself`,
      });
    } else if (sources.includes(name as BarProviderName)) {
      problems.push({ field, message: `"${name}" is listed twice` });
    } else {
      sources.push(name as BarProviderName);
    }
  });
  if (options.fallback !== undefined) {
    problems.push({
      field: 'mergeWith',
      message:
        'is not used with fallback: a merge goes on with the sources that answer, so list the fallback in mergeWith instead',
    });
  }
  return {
    mergeWith: sources,
    ...(threshold === undefined ? {} : { driftThresholdPct: threshold }),
  };
}

/** The failover provider: another bar provider, never the primary again. */
function parseFallback(
  fallback: string | undefined,
  provider: BarProviderName,
  problems: UsageProblem[],
): BarProviderName | undefined {
  if (fallback === undefined) return undefined;
  if (!(BAR_PROVIDERS as readonly string[]).includes(fallback)) {
    problems.push({
      field: 'fallback',
      message: `"${fallback.slice(0, 40)}" is not a bar provider (one of ${BAR_PROVIDERS.join(', ')})`,
    });
    return undefined;
  }
  if (fallback === provider) {
    problems.push({ field: 'fallback', message: `must differ from --provider (${provider})` });
    return undefined;
  }
  return fallback as BarProviderName;
}

function parseFredRequest(options: UnvalidatedIngestOptions, now: Date): FredIngestRequest {
  const problems: UsageProblem[] = [];
  if (options.files !== undefined && options.files.length > 0) {
    problems.push({ field: 'file', message: 'is only used with --provider csv' });
  }
  if (options.timeframe !== undefined) {
    problems.push({
      field: 'timeframe',
      message: 'is not used with --provider fred (macro events have none)',
    });
  }
  for (const field of ['fallback', 'mergeWith', 'driftThresholdPct'] as const) {
    if (options[field] !== undefined) {
      problems.push({ field, message: 'is not used with --provider fred' });
    }
  }
  let series = DEFAULT_FRED_SERIES;
  if (options.symbols !== undefined) {
    const known = DEFAULT_FRED_SERIES.map((spec) => spec.seriesId);
    const ids = parseSymbols(options.symbols, problems);
    ids.forEach((id, index) => {
      if (!known.includes(id)) {
        problems.push({
          field: `symbols[${index}]`,
          message: `${id} is not a tracked FRED series (one of ${known.join(', ')})`,
        });
      }
    });
    series = DEFAULT_FRED_SERIES.filter((spec) => ids.includes(spec.seriesId));
  }
  const { from, to } = parseWindow(options, 'fred', now, problems);
  if (problems.length > 0 || from === undefined || to === undefined) throw new IngestUsageError(problems);
  return { provider: 'fred', series, window: { from, to } };
}

function parseWindow(
  options: UnvalidatedIngestOptions,
  provider: string,
  now: Date,
  problems: UsageProblem[],
): { from: Date | undefined; to: Date | undefined } {
  const from = options.from === undefined ? undefined : parseInstant(options.from, 'from', problems);
  if (options.from === undefined)
    problems.push({ field: 'from', message: `is required with --provider ${provider}` });
  const to = options.to === undefined ? now : parseInstant(options.to, 'to', problems);
  if (from !== undefined && to !== undefined && from.getTime() >= to.getTime()) {
    problems.push({
      field: 'to',
      message: `reversed or empty date range: from ${from.toISOString()} is not before to ${to.toISOString()}`,
    });
  }
  return { from, to };
}

function parseSymbols(input: string | readonly string[] | undefined, problems: UsageProblem[]): string[] {
  const raw = typeof input === 'string' ? input.split(',') : [...(input ?? [])];
  const listed = raw.map((symbol) => symbol.trim()).filter((symbol) => symbol !== '');
  if (listed.length === 0) {
    problems.push({ field: 'symbols', message: 'is required: a comma-separated list such as EURUSD,SPY' });
    return [];
  }
  const symbols: string[] = [];
  listed.forEach((symbol, index) => {
    const parsed = symbolSchema.safeParse(symbol);
    if (parsed.success) {
      if (!symbols.includes(parsed.data)) symbols.push(parsed.data);
    } else {
      // The offending text is not echoed: it may be anything, including an injection attempt.
      problems.push({
        field: `symbols[${index}]`,
        message: 'must be 1 to 32 characters of A-Z, 0-9, _ . = - (as in EURUSD or BRK.B)',
      });
    }
  });
  return symbols;
}

/** The same strict reader as CSV rows and FRED dates: `2026-02-30` or `24:00` is refused, never rolled over. */
function parseInstant(text: string, field: 'from' | 'to', problems: UsageProblem[]): Date | undefined {
  const instant = parseIsoInstant(text);
  if (instant.ok) {
    // A date-only end means "through that day": the window is closed-open.
    return new Date(instant.dateOnly && field === 'to' ? instant.ms + DAY_MS : instant.ms);
  }
  problems.push({
    field,
    message:
      instant.kind === 'impossible'
        ? `"${text.slice(0, 40)}" is not a date: ${instant.message}`
        : `"${text.slice(0, 40)}" is not a date (YYYY-MM-DD) or an ISO-8601 date-time with a zone`,
  });
  return undefined;
}
