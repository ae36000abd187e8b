import { ALL_CURRENCIES, type DatasetName } from '@backbone/cache';
import type { IngestRunEvent, Timeframe, WarmSymbolJob } from '@backbone/contracts';

/** What one ingest event changes in the cache. */
export interface WarmPlan {
  /**
   * Version bumps, made as soon as the event is read: one slice (`symbol` and `timeframe`), every
   * timeframe of a symbol (`timeframe` absent) or the whole dataset (`symbol` absent).
   */
  invalidations: { dataset: DatasetName; symbol?: string; timeframe?: Timeframe }[];
  /** `cache-warm/warm-symbol` jobs that write the fresh slices. */
  jobs: WarmSymbolJob[];
}

/**
 * Maps an ingest-run event to invalidations and warm jobs for the enabled datasets:
 * a bar run touches latest-bar and recent-bars of its timeframe only (a 1h run leaves the 1m
 * slices cached: each timeframe has its own version); a macro run invalidates the
 * whole macro calendar (events move between currencies and windows) and re-warms its `ALL`
 * slice. Runs that changed nothing, and tick runs (no tick dataset is cached), change nothing.
 * Rollups are not touched here: the rollup tables hold a run's 1m bars only after the next
 * refresh, which announces itself (see {@link planRollupsRefresh}).
 *
 * @example const { invalidations, jobs } = planWarm(event, new Set(['latest-bar']));
 */
export function planWarm(event: IngestRunEvent, enabled: ReadonlySet<DatasetName>): WarmPlan {
  const plan: WarmPlan = { invalidations: [], jobs: [] };
  if (event.counts.inserted + event.counts.updated === 0) return plan;
  const sourceRunId = event.runId;
  if (event.dimension === 'bars' && event.timeframe !== undefined) {
    const timeframe = event.timeframe;
    for (const symbol of event.symbols) {
      for (const dataset of ['latest-bar', 'recent-bars'] as const) {
        if (!enabled.has(dataset)) continue;
        plan.invalidations.push({ dataset, symbol, timeframe });
        plan.jobs.push({ dataset, symbol, timeframe, sourceRunId });
      }
    }
  }
  if (event.dimension === 'macro' && enabled.has('macro-calendar')) {
    plan.invalidations.push({ dataset: 'macro-calendar' });
    plan.jobs.push({ dataset: 'macro-calendar', symbol: ALL_CURRENCIES, sourceRunId });
  }
  return plan;
}

/**
 * What a rollup refresh changes in the cache: every rollup slice the cache holds (its tracked
 * entries, `<symbol>:<timeframe>`) is invalidated per symbol and re-warmed from the refreshed
 * tables, 1h and 1d in one job. A refresh does not say which symbols changed, so all of them are
 * re-warmed: the cost is bounded by `maxKeysPerDataset` per refresh, whatever the ingest rate.
 *
 * @example planRollupsRefresh(['EURUSD:1h', 'EURUSD:1d']) // one invalidation, one job
 */
export function planRollupsRefresh(trackedEntries: readonly string[]): WarmPlan {
  const symbols = new Set(trackedEntries.map((entry) => entry.split(':')[0] ?? ''));
  symbols.delete('');
  return {
    invalidations: [...symbols].map((symbol) => ({ dataset: 'rollups' as const, symbol })),
    jobs: [...symbols].map((symbol) => ({ dataset: 'rollups', symbol })),
  };
}

/**
 * The de-duplication id of a warm job: one queued job per slice, whatever the number of events
 * that asked for it (deterministic: no clock, no run id).
 *
 * @example warmJobId({ dataset: 'latest-bar', symbol: 'EURUSD', timeframe: '1m' }) // 'warm:latest-bar:EURUSD:1m'
 */
export function warmJobId(job: Pick<WarmSymbolJob, 'dataset' | 'symbol' | 'timeframe'>): string {
  return `warm:${job.dataset}:${job.symbol}:${job.timeframe ?? '*'}`;
}
