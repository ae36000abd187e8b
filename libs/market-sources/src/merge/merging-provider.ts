import type {
  BarRequest,
  MarketDataProvider,
  ProviderFailure,
  SourceRejection,
  UnvalidatedBar,
  UnvalidatedBarBatch,
} from '../types.ts';
import { AllSourcesFailedError } from './all-sources-failed-error.ts';
import { mergeBarsByPriority } from './merge-bars.ts';
import { distinctSourceNames, perSymbol } from './source-list.ts';

export interface MergingOptions {
  /** Relative close difference above which sources are reported as drifting. Default 0.005 (0.5 %). */
  driftThreshold?: number;
  /** Told whenever a source fails and the merge goes on without it (for logs and metrics). */
  onSourceFailure?: (failure: ProviderFailure) => void;
}

/**
 * A provider that asks EVERY source for each symbol of a request (concurrently) and merges their
 * bars by priority with {@link mergeBarsByPriority}: for each (symbol, timeframe, ts) the row of
 * the most trusted source wins, a less trusted source fills the bars the others lack, and closes
 * that disagree beyond the threshold are counted as drift. Each symbol yields one batch whose
 * `merge` report says which source supplied how many rows, how many delivered rows were
 * superseded, the drift, and which sources failed.
 *
 * A source that fails (after its own retries) is left out of that symbol's merge and reported in
 * `merge.failed`; its partial answer is dropped whole, rejections included, as failover does.
 * When every source fails the symbol fails with {@link AllSourcesFailedError}. The caller's abort
 * is never treated as a source failure.
 *
 * @example createMergingProvider([yahoo, csv], { driftThreshold: 0.005 }).fetchBars({ symbols: ['EURUSD'], timeframe: '1d', from })
 */
export function createMergingProvider(
  sources: readonly MarketDataProvider[],
  options: MergingOptions = {},
): MarketDataProvider {
  const names = distinctSourceNames(sources, 'merge');

  return {
    name: `merge(${names.join('+')})`,
    async *fetchBars(request: BarRequest, signal?: AbortSignal): AsyncGenerator<UnvalidatedBarBatch> {
      for (const symbols of perSymbol(request)) {
        const answers = await Promise.all(
          sources.map((source) => collect(source, { ...request, symbols }, signal)),
        );
        if (signal?.aborted === true) throw signal.reason ?? new Error('aborted');
        const failed: ProviderFailure[] = [];
        const served: { source: string; rows: UnvalidatedBar[]; rejections: SourceRejection[] }[] = [];
        for (const [index, answer] of answers.entries()) {
          const source = names[index] ?? '';
          if ('error' in answer) {
            const failure = { provider: source, symbols, error: answer.error };
            failed.push(failure);
            options.onSourceFailure?.(failure);
          } else {
            served.push({ source, ...answer });
          }
        }
        if (served.length === 0) throw new AllSourcesFailedError(symbols, failed);
        const merged = mergeBarsByPriority(
          served,
          options.driftThreshold === undefined ? {} : { driftThreshold: options.driftThreshold },
        );
        const delivered = served.reduce((sum, answer) => sum + answer.rows.length, 0);
        yield {
          source: `merge(${names.join('+')})`,
          rows: merged.rows,
          rejections: served.flatMap((answer) => answer.rejections),
          merge: {
            sources: [...names],
            rowsBySource: merged.rowsBySource,
            superseded: delivered - merged.rows.length,
            driftCount: merged.driftCount,
            drift: merged.drift,
            failed,
          },
        };
      }
    },
  };
}

/** One source's whole answer, or its error (a half answer is never used). */
async function collect(
  source: MarketDataProvider,
  request: BarRequest,
  signal: AbortSignal | undefined,
): Promise<{ rows: UnvalidatedBar[]; rejections: SourceRejection[] } | { error: Error }> {
  const rows: UnvalidatedBar[] = [];
  const rejections: SourceRejection[] = [];
  try {
    for await (const batch of source.fetchBars(request, signal)) {
      rows.push(...batch.rows);
      rejections.push(...batch.rejections);
    }
    return { rows, rejections };
  } catch (error) {
    return { error: error instanceof Error ? error : new Error(String(error)) };
  }
}
