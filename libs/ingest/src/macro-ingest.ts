import { redactText, type SystemConfig } from '@backbone/config';
import { macroEventSchema, type MacroEvent, type TraceContext } from '@backbone/contracts';
import {
  mergeMacroEvents,
  recordIngestRun,
  recordRejectedRows,
  withTransaction,
  type IngestRunRecord,
  type RejectedRow,
} from '@backbone/db';
import {
  createFredProvider,
  type SourceRejection,
  type UnvalidatedMacroEvent,
} from '@backbone/market-sources';
import type pg from 'pg';
import { abortedBy } from './errors/ingest-aborted-error.ts';
import { IngestFailedError } from './errors/ingest-failed-error.ts';
import { IngestUsageError } from './errors/ingest-usage-error.ts';
import { insertIngestRunEvent } from './ingest-run-outbox.ts';
import { ingestMetrics } from './metrics.ts';
import type { RunQuality } from './quality.ts';
import type { FredIngestRequest } from './request.ts';
import { countByReason, sourceRejectionRows } from './validate.ts';

/** What a macro run needs; a subset of the bar pipeline's dependencies. */
export interface MacroIngestDependencies {
  pool: pg.Pool;
  config: Pick<SystemConfig, 'ingest' | 'kafka'>;
  now: () => Date;
  /** The W3C context the ingest-run event carries. */
  traceContext: () => TraceContext;
  signal?: AbortSignal;
}

/** The bar pipeline's result shape, so `./backbone ingest` prints the same summary for every provider. */
export interface MacroIngestOutcome {
  status: 'succeeded';
  inserted: number;
  updated: number;
  unchanged: number;
  rejected: number;
  rejectedByReason: Record<string, number>;
  duplicates: number;
  freshnessSeconds: number | null;
  quality: RunQuality;
  windows: number;
  failedSymbols: string[];
  missingSymbols: string[];
}

const MAX_RAW = 500;
/** Macro events have no calendar of expected bars: the quality report is empty by design. */
const NO_QUALITY: RunQuality = { gaps: 0, falseTicks: 0, stale: 0, series: [] };

/**
 * One FRED macro run: fetch the release calendar with values for the request's series, check
 * every event against the macro event contract (refusals counted per reason and stored in
 * `backbone.rejected_rows`), then in ONE transaction merge the events, write the `ingest_runs`
 * row and the ingest-run event (dimension `macro`) to the outbox. A run has few events (a few
 * per series and month), so unlike bars it is not split into windows: it commits whole or not
 * at all. A provider failure records a `failed` run and throws {@link IngestFailedError} whose
 * message is redacted (the API key never appears).
 *
 * @example await runMacroIngest({ pool, config, now: () => new Date() }, request, runId, undefined);
 */
export async function runMacroIngest(
  deps: MacroIngestDependencies,
  request: FredIngestRequest,
  runId: string,
  plan: string | undefined,
): Promise<MacroIngestOutcome> {
  const { pool, config, now } = deps;
  const fred = config.ingest.providers.fred;
  if (fred.apiKey === undefined) {
    throw new IngestUsageError([
      {
        // Named without "apiKey: …", which redactText would take for a secret and mask.
        field: 'ingest.providers.fred',
        message: 'has no API key; --provider fred needs one (env BACKBONE_INGEST__PROVIDERS__FRED__API_KEY)',
      },
    ]);
  }
  const startedAt = now();
  const seriesIds = request.series.map((spec) => spec.seriesId);
  const record = (status: IngestRunRecord['status'], extra: Partial<IngestRunRecord>): IngestRunRecord => ({
    runId,
    dimension: 'macro',
    source: 'fred',
    plan: plan ?? null,
    status,
    symbols: seriesIds,
    windowStart: request.window.from,
    windowEnd: request.window.to,
    inserted: 0,
    updated: 0,
    unchanged: 0,
    rejected: 0,
    startedAt,
    ...extra,
  });

  const provider = createFredProvider({
    baseUrl: fred.baseUrl,
    apiKey: fred.apiKey,
    series: request.series,
    http: {
      timeoutMs: fred.timeoutMs,
      retries: fred.maxRetries,
      minIntervalMs: Math.ceil(1000 / fred.requestsPerSecond),
    },
    now,
  });
  const fetched: UnvalidatedMacroEvent[] = [];
  const unreadable: SourceRejection[] = [];
  try {
    // The provider's `to` is an inclusive date; the request window is closed-open.
    const batches = provider.fetchEvents(
      { from: request.window.from, to: new Date(request.window.to.getTime() - 1) },
      deps.signal,
    );
    for await (const batch of batches) {
      fetched.push(...batch.events);
      unreadable.push(...batch.rejections);
    }
    // Nothing is written once aborted: the events were fetched under a lock this run may have lost.
    deps.signal?.throwIfAborted();
  } catch (error) {
    const aborted = abortedBy(deps.signal);
    if (aborted !== undefined) {
      await recordFailure(pool, record('failed', { finishedAt: now(), error: redactText(aborted.message) }));
      ingestMetrics.run('failed', (now().getTime() - startedAt.getTime()) / 1000, {
        source: 'fred',
        dimension: 'macro',
      });
      throw aborted;
    }
    // Any other abort (shutdown) interrupts the run: nothing recorded, the job goes back to the queue.
    if (deps.signal?.aborted === true) throw error;
    const message = redactText(`fred: ${error instanceof Error ? error.message : String(error)}`).slice(
      0,
      2000,
    );
    await recordFailure(pool, record('failed', { finishedAt: now(), error: message }));
    ingestMetrics.run('failed', (now().getTime() - startedAt.getTime()) / 1000, {
      source: 'fred',
      dimension: 'macro',
    });
    throw new IngestFailedError(
      message,
      { runId, failedSymbols: seriesIds, retriable: isRetriableFailure(error) },
      { cause: error },
    );
  }

  const validated = validateEvents(fetched, runId);
  const { events } = validated;
  // What the provider could not read (an impossible date) is counted like a contract refusal.
  const rejected = [...sourceRejectionRows(unreadable, runId), ...validated.rejected];
  const rejectedByReason: Record<string, number> = {};
  countByReason(rejected, rejectedByReason);
  const published = events.filter((event) => event.actual !== null).map((event) => Date.parse(event.ts));
  const finishedAt = now();
  const freshnessSeconds =
    published.length === 0
      ? null
      : Math.max(0, Math.floor((finishedAt.getTime() - Math.max(...published)) / 1000));
  const stored = new Set(events.map((event) => event.eventId.split('@')[0]));
  const missingSymbols = seriesIds.filter((id) => !stored.has(id)).sort();

  const merged = await withTransaction(pool, async (client) => {
    const counts = await mergeMacroEvents(client, events, { runId });
    await recordRejectedRows(client, rejected);
    const totals = {
      inserted: counts.inserted,
      updated: counts.updated,
      unchanged: counts.unchanged,
      rejected: rejected.length,
    };
    await recordIngestRun(
      client,
      record('succeeded', { ...totals, freshnessSeconds, quality: NO_QUALITY, finishedAt, error: null }),
    );
    await insertIngestRunEvent(client, config.kafka, {
      runId,
      dimension: 'macro',
      source: 'fred',
      symbols: seriesIds,
      window: { from: request.window.from.toISOString(), to: request.window.to.toISOString() },
      counts: totals,
      rejectedByReason,
      freshnessSeconds,
      quality: { gaps: 0, falseTicks: 0, stale: 0, series: 0 },
      producedAt: finishedAt.toISOString(),
      traceContext: deps.traceContext(),
    });
    return counts;
  });

  const attributes = { source: 'fred', dimension: 'macro' };
  ingestMetrics.rows('inserted', merged.inserted, attributes);
  ingestMetrics.rows('updated', merged.updated, attributes);
  ingestMetrics.rows('unchanged', merged.unchanged, attributes);
  ingestMetrics.rows('rejected', rejected.length, attributes);
  return {
    status: 'succeeded',
    inserted: merged.inserted,
    updated: merged.updated,
    unchanged: merged.unchanged,
    rejected: rejected.length,
    rejectedByReason,
    duplicates: merged.duplicatesInBatch,
    freshnessSeconds,
    quality: NO_QUALITY,
    windows: 1,
    failedSymbols: [],
    missingSymbols,
  };
}

/**
 * Applies the macro event contract; every fetched event ends up in `events` or `rejected`, whose
 * reason is `macro_<field>_invalid` for the first field that broke a rule (e.g. a NaN `actual`).
 */
export function validateEvents(
  fetched: readonly UnvalidatedMacroEvent[],
  runId: string,
): { events: MacroEvent[]; rejected: RejectedRow[] } {
  const events: MacroEvent[] = [];
  const rejected: RejectedRow[] = [];
  for (const raw of fetched) {
    const parsed = macroEventSchema.safeParse(raw);
    if (parsed.success) {
      events.push(parsed.data);
      continue;
    }
    const issue = parsed.error.issues[0];
    const field = issue?.path.map(String).join('.') ?? '';
    rejected.push({
      runId,
      source: typeof raw.source === 'string' && raw.source !== '' ? raw.source : 'unknown',
      reason: field === '' ? 'macro_shape_invalid' : `macro_${field}_invalid`,
      message: `${raw.eventId}: ${field === '' ? '' : `${field} `}${issue?.message ?? 'invalid'}`,
      raw: JSON.stringify(raw).slice(0, MAX_RAW),
    });
  }
  return { events, rejected };
}

function isRetriableFailure(error: unknown): boolean {
  return error !== null && typeof error === 'object' && (error as { retriable?: unknown }).retriable === true;
}

async function recordFailure(pool: pg.Pool, run: IngestRunRecord): Promise<void> {
  try {
    await withTransaction(pool, (client) => recordIngestRun(client, run));
  } catch {
    // The database may be what failed; the caller throws the provider's error.
  }
}
