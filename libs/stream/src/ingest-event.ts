import { randomBytes, randomUUID } from 'node:crypto';
import {
  ingestRunEventSchema,
  nextBarOpen,
  type IngestRunEvent,
  type TraceContext,
} from '@backbone/contracts';
import type { MergeCounts } from '@backbone/db';
import type { BatchPlan } from './batch-plan.ts';

/** The `source` of every ingest-run event the sink writes. */
export const STREAM_SOURCE = 'stream-bridge';

/**
 * The ingest-run event of one committed slice: what it stored and rejected, per reason. Validated
 * against the contract here, so a broken event fails the transaction instead of reaching Kafka.
 *
 * @example const event = ingestEventFor(plan, counts, { producedAt: new Date(), traceContext });
 */
export function ingestEventFor(
  plan: BatchPlan,
  counts: Pick<MergeCounts, 'inserted' | 'updated' | 'unchanged'>,
  options: { producedAt: Date; traceContext?: TraceContext | undefined; runId?: string },
): IngestRunEvent {
  const rejectedByReason: Record<string, number> = {};
  for (const { rejection } of plan.rejected) {
    rejectedByReason[rejection.reason] = (rejectedByReason[rejection.reason] ?? 0) + 1;
  }
  const producedAt = options.producedAt.toISOString();
  let oldest: number | undefined;
  let newest: number | undefined;
  let windowEnd: number | undefined;
  for (const { bar } of plan.bars) {
    const open = Date.parse(bar.ts);
    const close = nextBarOpen(new Date(open), bar.timeframe).getTime();
    oldest = oldest === undefined ? open : Math.min(oldest, open);
    newest = newest === undefined ? open : Math.max(newest, open);
    windowEnd = windowEnd === undefined ? close : Math.max(windowEnd, close);
  }
  const timeframes = new Set(plan.bars.map(({ bar }) => bar.timeframe));
  const [onlyTimeframe] = timeframes.size === 1 ? [...timeframes] : [];
  return ingestRunEventSchema.parse({
    runId: options.runId ?? randomUUID(),
    dimension: 'bars',
    source: STREAM_SOURCE,
    symbols: [...new Set(plan.bars.map(({ bar }) => bar.symbol))].sort(),
    ...(onlyTimeframe === undefined ? {} : { timeframe: onlyTimeframe }),
    // [first bar's open, last bar's close). A slice with no valid bar still reports its
    // rejections; its window is the empty [now, now).
    window:
      oldest === undefined || windowEnd === undefined
        ? { from: producedAt, to: producedAt }
        : { from: new Date(oldest).toISOString(), to: new Date(windowEnd).toISOString() },
    counts: {
      inserted: counts.inserted,
      updated: counts.updated,
      unchanged: counts.unchanged,
      rejected: plan.rejected.length,
    },
    rejectedByReason,
    freshnessSeconds:
      newest === undefined ? null : Math.max(0, (options.producedAt.getTime() - newest) / 1000),
    quality: { supersededInBatch: plan.superseded },
    producedAt,
    traceContext: options.traceContext ?? unsampledRootContext(),
  });
}

/**
 * The contract requires a trace context. Without an active span (no SDK, or nothing upstream),
 * a fresh root with the sampled flag off says "a new trace nobody recorded", which is the truth.
 */
function unsampledRootContext(): TraceContext {
  return { traceparent: `00-${randomBytes(16).toString('hex')}-${randomBytes(8).toString('hex')}-00` };
}
