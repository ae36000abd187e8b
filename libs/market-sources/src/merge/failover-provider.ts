import type { BarRequest, MarketDataProvider, ProviderFailure, UnvalidatedBarBatch } from '../types.ts';
import { AllSourcesFailedError } from './all-sources-failed-error.ts';
import { distinctSourceNames, perSymbol } from './source-list.ts';

export interface FailoverOptions {
  /** Told whenever a source fails and the next one is tried (for logs and metrics). */
  onFailover?: (failure: ProviderFailure, next: string) => void;
}

/**
 * A provider that asks its sources in order, symbol by symbol, and moves on to the next
 * DIFFERENT source when one fails (after that source's own retries). A symbol's bars come whole
 * from exactly one source: its batches are held until the source has answered completely, so a
 * source failing half-way never leaves a mix. The batches say which sources failed before
 * (`failedOver`). The caller's abort is never failed over.
 *
 * @example createFailoverProvider([yahoo, csv]).fetchBars({ symbols: ['EURUSD'], timeframe: '1d', from })
 */
export function createFailoverProvider(
  sources: readonly MarketDataProvider[],
  options: FailoverOptions = {},
): MarketDataProvider {
  const names = distinctSourceNames(sources, 'failover');

  return {
    name: `failover(${names.join('>')})`,
    async *fetchBars(request: BarRequest, signal?: AbortSignal): AsyncGenerator<UnvalidatedBarBatch> {
      for (const symbols of perSymbol(request)) {
        const failures: ProviderFailure[] = [];
        let served: { by: string; batches: UnvalidatedBarBatch[] } | undefined;
        for (const [index, source] of sources.entries()) {
          try {
            const batches: UnvalidatedBarBatch[] = [];
            for await (const batch of source.fetchBars({ ...request, symbols }, signal)) batches.push(batch);
            served = { by: source.name, batches };
            break;
          } catch (error) {
            if (signal?.aborted === true) throw error;
            const failure = {
              provider: source.name,
              symbols,
              error: error instanceof Error ? error : new Error(String(error)),
            };
            failures.push(failure);
            const next = sources[index + 1];
            if (next !== undefined) options.onFailover?.(failure, next.name);
          }
        }
        if (served === undefined) throw new AllSourcesFailedError(symbols, failures);
        const [first, ...rest] = served.batches;
        if (failures.length > 0) {
          // Even an empty answer carries the failover report.
          yield first === undefined
            ? { source: served.by, rows: [], rejections: [], failedOver: failures }
            : { ...first, failedOver: failures };
        } else if (first !== undefined) {
          yield first;
        }
        yield* rest;
      }
    },
  };
}
