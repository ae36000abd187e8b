import { join } from 'node:path';
import type { SystemConfig } from '@backbone/config';
import { timeframeMs } from '@backbone/contracts';
import {
  createCsvProvider,
  createFailoverProvider,
  createMergingProvider,
  createYahooProvider,
  readCsvBars,
  type MarketDataProvider,
  type MergeReport,
  type ProviderFailure,
  type SourceRejection,
  type UnvalidatedBar,
} from '@backbone/market-sources';
import type { BarProviderName, CsvIngestRequest, HttpIngestRequest, IngestWindow } from './request.ts';

/** A symbol whose provider (and fallback) failed; the run goes on with the others. */
export interface SymbolFailure {
  symbol: string;
  error: Error;
}

/**
 * One unit of work: everything in it is written in one transaction. CSV chunks follow the file
 * (`batchRows` lines each), HTTP chunks are time windows across all symbols, oldest first.
 */
export interface SourceChunk {
  rows: UnvalidatedBar[];
  rejections: SourceRejection[];
  failures: SymbolFailure[];
  /** The time window the chunk was asked for (HTTP providers). */
  window?: IngestWindow;
  /** Sources that failed while another one served the rows (failover, or a merge going on without them). */
  sourceFailures?: ProviderFailure[];
  /** One report per merged answer (merging provider only). */
  merges?: MergeReport[];
}

/** Called around every provider request, so the caller can wrap it in a span. */
export type FetchObserver = <T>(
  provider: string,
  detail: Record<string, string>,
  fetch: () => Promise<T>,
) => Promise<T>;

/** Reads whole CSV files, `batchRows` lines per chunk, in file order. */
export async function* csvChunks(
  request: CsvIngestRequest,
  batchRows: number,
  observe: FetchObserver,
  signal?: AbortSignal,
): AsyncGenerator<SourceChunk> {
  for (const file of request.files) {
    const batches = readCsvBars(file, { batchSize: batchRows, ...(signal === undefined ? {} : { signal }) });
    for (;;) {
      const next = await observe('csv', { file }, () => batches.next());
      if (next.done === true) break;
      yield { rows: next.value.rows, rejections: next.value.rejections, failures: [] };
    }
  }
}

/**
 * Splits the request window into time windows of at most `batchRows` bars across all symbols
 * and asks the provider symbol by symbol, so a failing symbol is reported (and re-planned)
 * without costing the others. A symbol that failed is not asked again in later windows.
 */
export async function* httpChunks(
  request: HttpIngestRequest,
  provider: MarketDataProvider,
  options: { batchRows: number; now: Date; observe: FetchObserver; signal?: AbortSignal },
): AsyncGenerator<SourceChunk> {
  const stepMs = timeframeMs[request.timeframe];
  const end = Math.min(request.window.to.getTime(), options.now.getTime());
  const barsPerSymbol = Math.max(1, Math.floor(options.batchRows / request.symbols.length));
  const widthMs = barsPerSymbol * stepMs;
  const failed = new Set<string>();
  // A file source reports a malformed line on every request that reads the file: count it once.
  const seenRejections = new Set<string>();
  for (let start = request.window.from.getTime(); start < end; start += widthMs) {
    const windowEnd = Math.min(end, start + widthMs);
    const chunk: SourceChunk = {
      rows: [],
      rejections: [],
      failures: [],
      window: { from: new Date(start), to: new Date(windowEnd) },
    };
    for (const symbol of request.symbols) {
      if (failed.has(symbol)) continue;
      try {
        await options.observe(provider.name, { symbol, from: iso(start), to: iso(windowEnd) }, async () => {
          // `to` is inclusive of the bar that contains it: the last bar opening before windowEnd.
          const bars = provider.fetchBars(
            {
              symbols: [symbol],
              timeframe: request.timeframe,
              from: new Date(start),
              to: new Date(windowEnd - 1),
            },
            options.signal,
          );
          for await (const batch of bars) {
            chunk.rows.push(...batch.rows);
            for (const rejection of batch.rejections) {
              const key = `${rejection.source}\u0000${rejection.location}\u0000${rejection.reason}`;
              if (seenRejections.has(key)) continue;
              seenRejections.add(key);
              chunk.rejections.push(rejection);
            }
            if (batch.failedOver !== undefined) (chunk.sourceFailures ??= []).push(...batch.failedOver);
            if (batch.merge !== undefined) {
              (chunk.merges ??= []).push(batch.merge);
              (chunk.sourceFailures ??= []).push(...batch.merge.failed);
            }
          }
        });
      } catch (error) {
        if (options.signal?.aborted === true) throw error;
        failed.add(symbol);
        chunk.failures.push({ symbol, error: error instanceof Error ? error : new Error(String(error)) });
      }
    }
    yield chunk;
  }
}

/**
 * The provider for a request: with failover to a different configured provider, or merging
 * further providers after it by priority (drift threshold in percent, default 0.5), when asked.
 *
 * @example createBarProvider(config, 'yahoo', { fallback: 'csv' })
 * @example createBarProvider(config, 'yahoo', { mergeWith: ['csv'], driftThresholdPct: 1 })
 */
export function createBarProvider(
  config: Pick<SystemConfig, 'ingest'>,
  name: BarProviderName,
  options: {
    fallback?: BarProviderName | undefined;
    mergeWith?: readonly BarProviderName[] | undefined;
    driftThresholdPct?: number | undefined;
  },
): MarketDataProvider {
  const primary = providerNamed(config, name);
  if (options.mergeWith !== undefined && options.mergeWith.length > 0) {
    if (options.fallback !== undefined) {
      throw new RangeError(
        'a merge goes on with the sources that answer: list the fallback in mergeWith instead',
      );
    }
    return createMergingProvider(
      [primary, ...options.mergeWith.map((other) => providerNamed(config, other))],
      { driftThreshold: (options.driftThresholdPct ?? DEFAULT_DRIFT_THRESHOLD_PCT) / 100 },
    );
  }
  if (options.fallback === undefined) return primary;
  return createFailoverProvider([primary, providerNamed(config, options.fallback)]);
}

/** The drift threshold of a merge when neither the plan nor the CLI sets one (percent). */
export const DEFAULT_DRIFT_THRESHOLD_PCT = 0.5;

function providerNamed(config: Pick<SystemConfig, 'ingest'>, name: BarProviderName): MarketDataProvider {
  const { providers } = config.ingest;
  switch (name) {
    case 'yahoo':
      return createYahooProvider({
        baseUrl: providers.yahoo.baseUrl,
        http: {
          timeoutMs: providers.yahoo.timeoutMs,
          retries: providers.yahoo.maxRetries,
          minIntervalMs: Math.ceil(1000 / providers.yahoo.requestsPerSecond),
        },
      });
    case 'csv':
      // Only the files of the symbols asked for: the ingest asks symbol by symbol, and a missing
      // file fails that symbol's csv source alone.
      return {
        name: 'csv',
        fetchBars: (request, signal) =>
          createCsvProvider({ files: csvFilesFor(config, request.symbols, [request.timeframe]) }).fetchBars(
            request,
            signal,
          ),
      };
  }
}

/**
 * The CSV files a plan reads: `<ingest.providers.csv.directory>/<SYMBOL>-<timeframe>.csv`, the
 * layout of the shipped fixtures.
 *
 * @example csvFilesFor(config, ['EURUSD'], ['1d']) // ['fixtures/bars/EURUSD-1d.csv']
 */
export function csvFilesFor(
  config: Pick<SystemConfig, 'ingest'>,
  symbols: readonly string[],
  timeframes: readonly string[],
): string[] {
  return symbols.flatMap((symbol) =>
    timeframes.map((timeframe) => join(config.ingest.providers.csv.directory, `${symbol}-${timeframe}.csv`)),
  );
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
