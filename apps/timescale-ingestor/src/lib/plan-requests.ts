import type { SystemConfig } from '@backbone/config';
import type { RunPlanJob } from '@backbone/contracts';
import { csvFilesFor, parseIngestRequest, type IngestRequest } from '@backbone/ingest';

export type Plan = SystemConfig['ingest']['plans'][number];

const DAY_MS = 86_400_000;
/** A recovery run looks back twice as far as the plan, but never more than this (unless the plan does). */
export const MAX_RECOVERY_LOOKBACK_DAYS = 365;

/**
 * The lookback of a recovery run: twice the plan's, bounded by {@link MAX_RECOVERY_LOOKBACK_DAYS}
 * (a plan that already looks back further keeps its own).
 *
 * @example recoveryLookbackDays(60) // 120
 */
export function recoveryLookbackDays(planLookbackDays: number): number {
  return Math.max(planLookbackDays, Math.min(planLookbackDays * 2, MAX_RECOVERY_LOOKBACK_DAYS));
}

/**
 * The ingest requests of one job: one per plan timeframe (one in all for a fred plan, whose
 * symbols are FRED series ids). CSV plans read `<directory>/<SYMBOL>-<timeframe>.csv` whole; HTTP
 * plans fetch the job's window or the plan's lookback up to now. Throws `IngestUsageError` for a
 * plan that cannot run (permanent).
 */
export function planRequests(plan: Plan, job: RunPlanJob, config: SystemConfig, now: Date): IngestRequest[] {
  const symbols = job.symbols ?? plan.symbols;
  const from = job.window?.from ?? new Date(now.getTime() - plan.lookbackDays * DAY_MS).toISOString();
  const to = job.window?.to ?? now.toISOString();
  if (plan.provider === 'fred') {
    // Macro events have no timeframe: one request for the plan's series over its window.
    return [parseIngestRequest({ provider: 'fred', symbols: [...symbols], from, to }, now)];
  }
  return plan.timeframes.map((timeframe) => {
    if (plan.provider === 'csv') {
      return parseIngestRequest({ provider: 'csv', files: csvFilesFor(config, symbols, [timeframe]) }, now);
    }
    const request = parseIngestRequest(
      {
        provider: plan.provider,
        symbols: [...symbols],
        timeframe,
        from,
        to,
        // The schema refuses mergeWith with a fallback, on a csv plan, or naming fred.
        ...(plan.mergeWith === undefined
          ? {}
          : {
              mergeWith: plan.mergeWith,
              ...(plan.driftThresholdPct === undefined ? {} : { driftThresholdPct: plan.driftThresholdPct }),
            }),
      },
      now,
    );
    if (
      request.provider === 'yahoo' &&
      plan.fallbackProvider !== undefined &&
      plan.fallbackProvider !== 'fred'
    ) {
      return { ...request, fallbackProvider: plan.fallbackProvider };
    }
    return request;
  });
}
