import { ALL_CURRENCIES, type DatasetName } from '@backbone/cache';
import type { IngestRunEvent, WarmSymbolJob } from '@backbone/contracts';

/** What one ingest event changes in the cache. */
export interface WarmPlan {
  /** Version bumps, made as soon as the event is read (`symbol` absent: the whole dataset). */
  invalidations: { dataset: DatasetName; symbol?: string }[];
  /** `cache-warm/warm-symbol` jobs that write the fresh slices. */
  jobs: WarmSymbolJob[];
}

/**
 * Maps an ingest-run event to invalidations and warm jobs for the enabled datasets:
 * a bar run touches latest-bar and recent-bars of its timeframe, and the 1h/1d rollups when it
 * wrote 1m bars; a macro run invalidates the whole macro calendar (events move between
 * currencies and windows) and re-warms its `ALL` slice. Runs that changed nothing, and tick
 * runs (no tick dataset is cached), change nothing.
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
        plan.invalidations.push({ dataset, symbol });
        plan.jobs.push({ dataset, symbol, timeframe, sourceRunId });
      }
      if (timeframe === '1m' && enabled.has('rollups')) {
        plan.invalidations.push({ dataset: 'rollups', symbol });
        plan.jobs.push({ dataset: 'rollups', symbol, sourceRunId });
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
 * The de-duplication id of a warm job: one queued job per slice, whatever the number of events
 * that asked for it (deterministic: no clock, no run id).
 *
 * @example warmJobId({ dataset: 'latest-bar', symbol: 'EURUSD', timeframe: '1m' }) // 'warm:latest-bar:EURUSD:1m'
 */
export function warmJobId(job: Pick<WarmSymbolJob, 'dataset' | 'symbol' | 'timeframe'>): string {
  return `warm:${job.dataset}:${job.symbol}:${job.timeframe ?? '*'}`;
}
