import { z } from 'zod';
import { assetClassOf } from '../calendar/asset-class.ts';
import { createHttpClient, type HttpClientOptions } from '../http/http-client.ts';
import { alignTimestamp, nextBarOpen, type Timeframe } from '@backbone/contracts';
import {
  type BarRequest,
  type MarketDataProvider,
  type SourceRejection,
  type UnvalidatedBar,
  type UnvalidatedBarBatch,
} from '../types.ts';

const SOURCE = 'yahoo';
const DAY_MS = 86_400_000;
/**
 * Timestamps Yahoo may send, as ISO-8601 can write them (years 0001-9999). Anything outside
 * (a corrupted or garbage epoch) is rejected, not turned into an Invalid Date that would fail
 * the whole answer.
 */
const FIRST_MS = Date.parse('0001-01-02T00:00:00Z');
const LAST_MS = Date.parse('9999-12-30T00:00:00Z');

/** Yahoo's interval per timeframe; Yahoo has no 4-hour interval. */
const INTERVAL: Partial<Record<Timeframe, string>> = {
  '1m': '1m',
  '5m': '5m',
  '15m': '15m',
  '30m': '30m',
  '1h': '60m',
  '1d': '1d',
  '1wk': '1wk',
  '1mo': '1mo',
};

/**
 * Yahoo serves 1-minute bars for at most 8 days per request (and only the last 30 days), other
 * intraday intervals for at most 60 days (1h: 730 days). Longer requests are split into windows.
 */
const MAX_WINDOW_MS: Partial<Record<Timeframe, number>> = {
  '1m': 7 * DAY_MS,
  '5m': 59 * DAY_MS,
  '15m': 59 * DAY_MS,
  '30m': 59 * DAY_MS,
  '1h': 729 * DAY_MS,
};

const nullableNumbers = z.array(z.number().nullable());

/** The documented shape of `/v8/finance/chart/{symbol}`, as far as we use it. */
export const yahooChartSchema = z
  .object({
    chart: z.object({
      result: z
        .array(
          z.object({
            meta: z.object({
              symbol: z.string(),
              // The offset at the time of the request: wrong for bars on the other side of a DST change.
              gmtoffset: z.number().int(),
              // The exchange's IANA zone: each bar's own offset comes from it.
              exchangeTimezoneName: z.string().refine(isTimeZone, 'is not an IANA time zone'),
              dataGranularity: z.string().optional(),
            }),
            // Absent when the window holds no bar. Any number: an epoch outside years 0001-9999 is
            // one rejected row, not a refused answer.
            timestamp: z.array(z.number()).optional(),
            indicators: z.object({
              quote: z
                .array(
                  z.object({
                    open: nullableNumbers.optional(),
                    high: nullableNumbers.optional(),
                    low: nullableNumbers.optional(),
                    close: nullableNumbers.optional(),
                    volume: nullableNumbers.optional(),
                  }),
                )
                .min(1),
            }),
          }),
        )
        .length(1),
      error: z.null(),
    }),
  })
  .superRefine((body, ctx) => {
    const [result] = body.chart.result;
    const count = result?.timestamp?.length ?? 0;
    const quote = result?.indicators.quote[0];
    for (const field of ['open', 'high', 'low', 'close', 'volume'] as const) {
      const length = quote?.[field]?.length ?? 0;
      if (count > 0 && length !== count) {
        ctx.addIssue({
          code: 'custom',
          path: ['chart', 'result', 0, 'indicators', 'quote', 0, field],
          message: `has ${length} values for ${count} timestamps`,
        });
      }
    }
  });

export type YahooChart = z.infer<typeof yahooChartSchema>;

export interface YahooProviderOptions {
  /** e.g. `https://query1.finance.yahoo.com` */
  baseUrl: string;
  /** Timeouts, retries, rate limit (default 500 ms between requests), User-Agent header, … */
  http?: Omit<HttpClientOptions, 'provider' | 'baseUrl' | 'extractApiError'>;
  /** Canonical symbol → Yahoo symbol. Default: FX pairs get `=X` (`EURUSD` → `EURUSD=X`), others as they are. */
  symbolMap?: Readonly<Record<string, string>>;
  now?: () => Date;
}

/**
 * The `yahoo` provider over the v8 chart API. The window ends at `now` unless `to` is given, and
 * `to` is inclusive of its bar, so today's still-forming bar is always part of the answer (later
 * runs update it). Daily bars are stamped 00:00 UTC of the exchange-local trading date (Yahoo
 * stamps them at the session open, at local midnight or, for today, at the last trade); the
 * local date is read in the exchange's IANA zone (`exchangeTimezoneName`) at each bar's own
 * instant, so bars on both sides of a DST change land on their day (`gmtoffset` is only the
 * offset at request time). Intraday bars keep their open time. A timestamp outside years
 * 0001-9999 is a counted `impossible_timestamp` rejection.
 *
 * @example createYahooProvider({ baseUrl: 'https://query1.finance.yahoo.com' }).fetchBars({ symbols: ['EURUSD'], timeframe: '1d', from })
 */
export function createYahooProvider(options: YahooProviderOptions): MarketDataProvider {
  const http = createHttpClient({
    minIntervalMs: 500,
    ...options.http,
    provider: SOURCE,
    baseUrl: options.baseUrl,
    extractApiError: chartError,
  });
  const now = options.now ?? (() => new Date());

  return {
    name: SOURCE,
    async *fetchBars(request: BarRequest, signal?: AbortSignal): AsyncGenerator<UnvalidatedBarBatch> {
      if (request.symbols.length === 0) throw new RangeError('yahoo: name the symbols to fetch');
      const interval = INTERVAL[request.timeframe];
      if (interval === undefined) throw new RangeError(`yahoo: no ${request.timeframe} interval`);
      const maxWindowMs = MAX_WINDOW_MS[request.timeframe] ?? Number.POSITIVE_INFINITY;
      const end = Math.min(
        now().getTime(),
        request.to === undefined
          ? Number.POSITIVE_INFINITY
          : nextBarOpen(request.to, request.timeframe).getTime(),
      );
      const start = request.from.getTime();
      if (!(start < end))
        throw new RangeError(
          `yahoo: empty window ${request.from.toISOString()} .. ${new Date(end).toISOString()}`,
        );
      for (const symbol of request.symbols) {
        const yahooSymbol =
          options.symbolMap?.[symbol] ?? (assetClassOf(symbol) === 'fx' ? `${symbol}=X` : symbol);
        for (let windowStart = start; windowStart < end; windowStart += maxWindowMs) {
          const windowEnd = Math.min(end, windowStart + maxWindowMs);
          const query = new URLSearchParams({
            period1: String(Math.floor(windowStart / 1000)),
            period2: String(Math.ceil(windowEnd / 1000)),
            interval,
            includePrePost: 'false',
          });
          const chart = await http.getJson(
            `v8/finance/chart/${encodeURIComponent(yahooSymbol)}?${query.toString()}`,
            yahooChartSchema,
            signal,
          );
          yield toBatch(chart, symbol, yahooSymbol, request.timeframe);
        }
      }
    },
  };
}

function chartError(body: unknown): string | undefined {
  const parsed = z
    .object({ chart: z.object({ error: z.object({ code: z.string(), description: z.string() }) }) })
    .safeParse(body);
  return parsed.success
    ? `${parsed.data.chart.error.code}: ${parsed.data.chart.error.description}`
    : undefined;
}

function toBatch(
  chart: YahooChart,
  symbol: string,
  yahooSymbol: string,
  timeframe: Timeframe,
): UnvalidatedBarBatch {
  const [result] = chart.chart.result;
  const timestamps = result?.timestamp ?? [];
  const quote = result?.indicators.quote[0];
  const localDate = localDateIn(result?.meta.exchangeTimezoneName ?? 'UTC');
  const daily = timeframe === '1d' || timeframe === '1wk' || timeframe === '1mo';
  // Keyed by bar time: Yahoo can repeat today's daily bar (session stamp and last-trade stamp);
  // the later entry is the fresher one.
  const rows = new Map<string, UnvalidatedBar>();
  const rejections: SourceRejection[] = [];
  timestamps.forEach((seconds, index) => {
    const location = `${SOURCE} ${yahooSymbol}[${index}]`;
    const ms = seconds * 1000;
    if (!(ms >= FIRST_MS && ms <= LAST_MS)) {
      rejections.push({
        source: SOURCE,
        location,
        reason: 'impossible_timestamp',
        detail: `timestamp ${seconds} s is outside years 0001-9999`,
      });
      return;
    }
    const value = (field: 'open' | 'high' | 'low' | 'close' | 'volume'): number | null =>
      quote?.[field]?.[index] ?? null;
    const [open, high, low, close, volume] = [
      value('open'),
      value('high'),
      value('low'),
      value('close'),
      value('volume'),
    ];
    if (open === null && high === null && low === null && close === null) {
      // Yahoo's way of saying "no trade in this interval": not a bar, but counted.
      rejections.push({
        source: SOURCE,
        location,
        reason: 'empty_bar',
        detail: `no prices at ${new Date(ms).toISOString()}`,
      });
      return;
    }
    // Daily and longer bars belong to the exchange-local trading date; intraday bars keep their instant.
    const instant = daily ? new Date(`${localDate(ms)}T00:00:00Z`) : new Date(ms);
    const ts = alignTimestamp(instant, timeframe).toISOString().replace('.000Z', 'Z');
    rows.set(ts, { symbol, timeframe, ts, open, high, low, close, volume, source: SOURCE });
  });
  return { source: SOURCE, rows: [...rows.values()], rejections };
}

/** One formatter per zone: building an Intl.DateTimeFormat is far costlier than using one. */
const localDateFormats = new Map<string, Intl.DateTimeFormat>();

/**
 * `YYYY-MM-DD` of an instant in `timeZone`, with the offset that zone had at that instant (DST
 * included).
 *
 * @example localDateIn('Europe/London')(Date.parse('2026-07-06T23:00:00Z')) // '2026-07-07'
 */
function localDateIn(timeZone: string): (ms: number) => string {
  let format = localDateFormats.get(timeZone);
  if (format === undefined) {
    // en-CA writes dates as YYYY-MM-DD.
    format = new Intl.DateTimeFormat('en-CA', {
      timeZone,
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
    });
    localDateFormats.set(timeZone, format);
  }
  const zoned = format;
  return (ms) => {
    const parts = Object.fromEntries(zoned.formatToParts(ms).map((part) => [part.type, part.value]));
    return `${(parts['year'] ?? '').padStart(4, '0')}-${parts['month']}-${parts['day']}`;
  };
}

function isTimeZone(name: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: name });
    return true;
  } catch {
    return false;
  }
}
