import { randomBytes, randomUUID } from 'node:crypto';
import { redactText, type SystemConfig } from '@backbone/config';
import {
  barRuleOptionsFromSettings,
  isTimeframe,
  nextBarOpen,
  type BarRuleOptions,
  type Timeframe,
  type TraceContext,
} from '@backbone/contracts';
import {
  mergeBars,
  recordIngestRun,
  recordRejectedRows,
  withTransaction,
  type IngestRunRecord,
} from '@backbone/db';
import { CsvFormatError } from '@backbone/market-sources';
import { currentTraceContext } from '@backbone/telemetry';
import { SpanStatusCode, context, trace, type Span } from '@opentelemetry/api';
import type pg from 'pg';
import { abortedBy } from './errors/ingest-aborted-error.ts';
import { IngestFailedError } from './errors/ingest-failed-error.ts';
import { IngestUsageError } from './errors/ingest-usage-error.ts';
import { insertIngestRunEvent, type IngestRunEventInput } from './ingest-run-outbox.ts';
import { ingestMetrics } from './metrics.ts';
import { QualityCollector, SourcesCollector, eventQuality, type RunQuality } from './quality.ts';
import { runMacroIngest } from './macro-ingest.ts';
import type { BarIngestRequest, FredIngestRequest, IngestRequest, IngestWindow } from './request.ts';
import {
  DEFAULT_DRIFT_THRESHOLD_PCT,
  createBarProvider,
  csvChunks,
  httpChunks,
  type FetchObserver,
  type SourceChunk,
  type SymbolFailure,
} from './sources.ts';
import { countByReason, validateRows } from './validate.ts';

/** What the pipeline needs from the outside; everything is injected, nothing is global. */
export interface IngestDependencies {
  pool: pg.Pool;
  config: Pick<SystemConfig, 'ingest' | 'readiness' | 'kafka'>;
  /** The clock for validation (future skew), quality and freshness; `new Date()` by default. */
  now?: () => Date;
  /** Told after every committed window (progress bars, log lines). */
  onProgress?: (progress: IngestProgress) => void;
  /**
   * Stops the run before its next window. Aborted with an {@link IngestAbortedError} (a lost
   * plan lock), the run is recorded `failed` with that reason; any other abort (shutdown) only
   * interrupts it, so a re-run under the same id completes it.
   */
  signal?: AbortSignal;
}

export interface IngestRunOptions {
  /** Defaults to a new UUID. */
  runId?: string;
  /** The configured plan the run belongs to (worker runs). */
  plan?: string;
}

/** Progress after a committed window. Counts are cumulative over the run. */
export interface IngestProgress {
  runId: string;
  windowsCommitted: number;
  /** Input records seen so far (stored, unchanged, duplicated or rejected). */
  recordsRead: number;
  inserted: number;
  updated: number;
  unchanged: number;
  rejected: number;
  /** The committed window's time range (HTTP providers) or bar range (files). */
  window: { from: string; to: string } | null;
}

export type IngestStatus = 'succeeded' | 'partial' | 'failed';

/** The outcome of one run; also what `./backbone ingest` prints. */
export interface IngestResult {
  runId: string;
  status: IngestStatus;
  inserted: number;
  updated: number;
  unchanged: number;
  rejected: number;
  rejectedByReason: Record<string, number>;
  /** Records superseded by a later record with the same key in the same window (last one wins). */
  duplicates: number;
  /** Age of the newest stored bar at the end of the run; null when nothing was stored. */
  freshnessSeconds: number | null;
  quality: RunQuality;
  /** Transactions committed (one per window). */
  windows: number;
  /** Requested symbols whose provider failed (partial runs); the worker re-plans them. */
  failedSymbols: string[];
  /** Requested symbols without a single valid bar, failed or not. */
  missingSymbols: string[];
  durationMs: number;
}

interface Totals {
  inserted: number;
  updated: number;
  unchanged: number;
  rejected: number;
  duplicates: number;
  recordsRead: number;
  windows: number;
}

const tracer = trace.getTracer('@backbone/ingest');

/**
 * Runs one ingest: provider fetch → contract validation (rejections stored in
 * `backbone.rejected_rows` with their reason) → COPY-merge of the bars. Work is committed window
 * by window, each window in its own transaction together with the run's `ingest_runs` row (status
 * `running` until the last window), so a killed process leaves whole windows only and a re-run
 * stores the rest exactly once. The last window's transaction also carries the final status, the
 * quality report and the ingest-run event in `backbone.outbox` (key = runId).
 *
 * @example
 * const result = await runIngest({ pool, config }, parseIngestRequest({ provider: 'csv', files: ['fixtures/bars/EURUSD-1d.csv'] }, new Date()));
 */
export async function runIngest(
  deps: IngestDependencies,
  request: IngestRequest,
  options: IngestRunOptions = {},
): Promise<IngestResult> {
  const runId = options.runId ?? randomUUID();
  const attributes = {
    provider: request.provider,
    dimension: request.provider === 'fred' ? 'macro' : 'bars',
    ...(options.plan === undefined ? {} : { plan: options.plan }),
  };
  return tracer.startActiveSpan(
    'ingest run',
    { attributes: { ...attributes, 'backbone.run_id': runId } },
    async (span) => {
      try {
        const result =
          request.provider === 'fred'
            ? await executeMacro(deps, request, runId, options.plan)
            : await execute(deps, request, runId, options.plan, span);
        span.setAttributes({
          'backbone.ingest.status': result.status,
          'backbone.ingest.inserted': result.inserted,
          'backbone.ingest.updated': result.updated,
          'backbone.ingest.rejected': result.rejected,
        });
        return result;
      } catch (error) {
        const message = redactText(error instanceof Error ? error.message : String(error));
        span.recordException({ name: error instanceof Error ? error.name : 'Error', message });
        span.setStatus({ code: SpanStatusCode.ERROR, message });
        throw error;
      } finally {
        span.end();
      }
    },
  );
}

/** FRED runs write macro events (dimension `macro`) in one transaction; see macro-ingest.ts. */
async function executeMacro(
  deps: IngestDependencies,
  request: FredIngestRequest,
  runId: string,
  plan: string | undefined,
): Promise<IngestResult> {
  const started = performance.now();
  const outcome = await runMacroIngest(
    {
      pool: deps.pool,
      config: deps.config,
      now: deps.now ?? (() => new Date()),
      traceContext: () => currentTraceContext() ?? newTraceContext(),
      ...(deps.signal === undefined ? {} : { signal: deps.signal }),
    },
    request,
    runId,
    plan,
  );
  const result: IngestResult = { runId, ...outcome, durationMs: Math.round(performance.now() - started) };
  deps.onProgress?.({
    runId,
    windowsCommitted: 1,
    recordsRead:
      outcome.inserted + outcome.updated + outcome.unchanged + outcome.duplicates + outcome.rejected,
    inserted: outcome.inserted,
    updated: outcome.updated,
    unchanged: outcome.unchanged,
    rejected: outcome.rejected,
    window: { from: request.window.from.toISOString(), to: request.window.to.toISOString() },
  });
  recordRunMetrics(result, 'fred', 'macro');
  return result;
}

async function execute(
  deps: IngestDependencies,
  request: BarIngestRequest,
  runId: string,
  plan: string | undefined,
  runSpan: Span,
): Promise<IngestResult> {
  const { pool, config } = deps;
  const now = deps.now ?? (() => new Date());
  const startedAt = now();
  const started = performance.now();
  const rules: BarRuleOptions = barRuleOptionsFromSettings(config.ingest, now);
  const runContext = trace.setSpan(context.active(), runSpan);
  const observe: FetchObserver = (provider, detail, fetch) =>
    tracer.startActiveSpan(
      `fetch ${provider}`,
      { attributes: { provider, ...detail } },
      runContext,
      async (span) => {
        try {
          return await fetch();
        } catch (error) {
          span.setStatus({ code: SpanStatusCode.ERROR, message: redactText(String(error)) });
          throw error;
        } finally {
          span.end();
        }
      },
    );

  const chunks =
    request.provider === 'csv'
      ? csvChunks(request, config.ingest.batchRows, observe, deps.signal)
      : httpChunks(
          request,
          createBarProvider(config, request.provider, {
            fallback: request.fallbackProvider,
            mergeWith: request.mergeWith,
            driftThresholdPct: request.driftThresholdPct,
          }),
          {
            batchRows: config.ingest.batchRows,
            now: startedAt,
            observe,
            ...(deps.signal === undefined ? {} : { signal: deps.signal }),
          },
        );
  const requested = request.provider === 'csv' ? [] : [...request.symbols];
  const source = request.provider === 'csv' ? 'csv' : request.provider;
  const quality = new QualityCollector();
  const sources = new SourcesCollector(
    request.provider === 'csv' || request.mergeWith === undefined
      ? undefined
      : {
          sources: [request.provider, ...request.mergeWith],
          driftThresholdPct: request.driftThresholdPct ?? DEFAULT_DRIFT_THRESHOLD_PCT,
        },
  );
  const rejectedByReason: Record<string, number> = {};
  const failures: SymbolFailure[] = [];
  const totals: Totals = {
    inserted: 0,
    updated: 0,
    unchanged: 0,
    rejected: 0,
    duplicates: 0,
    recordsRead: 0,
    windows: 0,
  };
  let dataFrom = Number.POSITIVE_INFINITY;
  let dataTo = Number.NEGATIVE_INFINITY;
  const timeframes = new Set<Timeframe>();
  const runRecord = (
    status: IngestRunRecord['status'],
    counts: Totals,
    extra: Partial<IngestRunRecord> = {},
  ): IngestRunRecord => ({
    runId,
    dimension: 'bars',
    source,
    plan: plan ?? null,
    status,
    symbols: requested.length > 0 ? requested : quality.symbols(),
    windowStart:
      request.provider === 'csv'
        ? Number.isFinite(dataFrom)
          ? new Date(dataFrom)
          : null
        : request.window.from,
    windowEnd:
      request.provider === 'csv' ? (Number.isFinite(dataTo) ? new Date(dataTo) : null) : request.window.to,
    inserted: counts.inserted,
    updated: counts.updated,
    unchanged: counts.unchanged,
    rejected: counts.rejected,
    startedAt,
    ...extra,
  });

  try {
    for await (const { value: chunk, last } of withLast(chunks, emptyChunk)) {
      const validated = validateRows(chunk.rows, chunk.rejections, { runId, rules });
      failures.push(...chunk.failures);
      sources.add(chunk);
      let chunkFrom = Number.POSITIVE_INFINITY;
      let chunkTo = Number.NEGATIVE_INFINITY;
      for (const bar of validated.bars) {
        quality.add(bar);
        timeframes.add(bar.timeframe);
        const ts = Date.parse(bar.ts);
        const end = barEnd(ts, bar.timeframe);
        if (ts < chunkFrom) chunkFrom = ts;
        if (end > chunkTo) chunkTo = end;
      }
      dataFrom = Math.min(dataFrom, chunkFrom);
      dataTo = Math.max(dataTo, chunkTo);
      const chunkWindow =
        chunk.window ??
        (Number.isFinite(chunkFrom) ? { from: new Date(chunkFrom), to: new Date(chunkTo) } : undefined);

      // Checked before every write: once aborted, no further window commits (a provider that does
      // not watch the signal cannot carry the run on).
      deps.signal?.throwIfAborted();
      let final: FinalState | undefined;
      if (last) {
        final = finalState({
          request,
          quality,
          sources,
          now: now(),
          readiness: config.readiness,
          failures,
          requested,
          anyStored: totals.inserted + totals.updated + totals.unchanged + validated.bars.length > 0,
          timeframes,
        });
      }
      const committed = await runInChildSpan(
        'write bars',
        runContext,
        { 'backbone.window.rows': validated.bars.length },
        () =>
          withTransaction(pool, async (client) => {
            const merged = await mergeBars(client, validated.bars, { runId });
            await recordRejectedRows(client, validated.rejected);
            const counts: Totals = {
              inserted: totals.inserted + merged.inserted,
              updated: totals.updated + merged.updated,
              unchanged: totals.unchanged + merged.unchanged,
              rejected: totals.rejected + validated.rejected.length,
              duplicates: totals.duplicates + merged.duplicatesInBatch,
              recordsRead: totals.recordsRead + chunk.rows.length + chunk.rejections.length,
              windows: totals.windows + 1,
            };
            const written = { counts, merged, rejected: validated.rejected.length };
            if (final === undefined) {
              await recordIngestRun(client, runRecord('running', counts));
              return written;
            }
            const byReason = { ...rejectedByReason };
            countByReason(validated.rejected, byReason);
            const finishedAt = now();
            await recordIngestRun(
              client,
              runRecord(final.status, counts, {
                freshnessSeconds: final.freshnessSeconds,
                quality: final.quality,
                finishedAt,
                error: final.error,
              }),
            );
            if (final.status !== 'failed') {
              await insertIngestRunEvent(
                client,
                config.kafka,
                buildEvent({
                  runId,
                  source,
                  symbols: requested.length > 0 ? requested : quality.symbols(),
                  timeframe: timeframes.size === 1 ? [...timeframes][0] : undefined,
                  window: eventWindow(request, dataFrom, dataTo, finishedAt),
                  counts,
                  rejectedByReason: byReason,
                  freshnessSeconds: final.freshnessSeconds,
                  quality: final.quality,
                  producedAt: finishedAt,
                }),
              );
            }
            return written;
          }),
      );
      // Only after COMMIT: a rolled-back window contributes nothing.
      Object.assign(totals, committed.counts);
      countByReason(validated.rejected, rejectedByReason);
      const metricAttributes = { source, dimension: 'bars' };
      ingestMetrics.rows('inserted', committed.merged.inserted, metricAttributes);
      ingestMetrics.rows('updated', committed.merged.updated, metricAttributes);
      ingestMetrics.rows('unchanged', committed.merged.unchanged, metricAttributes);
      ingestMetrics.rows('rejected', committed.rejected, metricAttributes);
      deps.onProgress?.({
        runId,
        windowsCommitted: totals.windows,
        recordsRead: totals.recordsRead,
        inserted: totals.inserted,
        updated: totals.updated,
        unchanged: totals.unchanged,
        rejected: totals.rejected,
        window:
          chunkWindow === undefined
            ? null
            : { from: chunkWindow.from.toISOString(), to: chunkWindow.to.toISOString() },
      });
      if (final !== undefined) {
        const result: IngestResult = {
          runId,
          status: final.status,
          inserted: totals.inserted,
          updated: totals.updated,
          unchanged: totals.unchanged,
          rejected: totals.rejected,
          rejectedByReason,
          duplicates: totals.duplicates,
          freshnessSeconds: final.freshnessSeconds,
          quality: final.quality,
          windows: totals.windows,
          failedSymbols: final.failedSymbols,
          missingSymbols: final.missingSymbols,
          durationMs: Math.round(performance.now() - started),
        };
        recordRunMetrics(result, source);
        if (final.status === 'failed') {
          throw new IngestFailedError(
            final.error ?? `ingest run ${runId} failed`,
            {
              runId,
              failedSymbols: final.failedSymbols,
              retriable: failures.some((failure) => isRetriable(failure.error)),
            },
            { cause: failures.at(-1)?.error },
          );
        }
        return result;
      }
    }
    throw new Error('unreachable: the last chunk always returns');
  } catch (error) {
    if (error instanceof IngestFailedError) throw error;
    const aborted = abortedBy(deps.signal);
    // An aborted run (worker shutdown) is interrupted, not failed: its job goes back to the queue
    // and the re-run, under the same run id, completes the committed windows.
    if (deps.signal?.aborted === true && aborted === undefined) throw error;
    const failure = aborted ?? error;
    await recordFailure(
      pool,
      runRecord('failed', totals, {
        finishedAt: now(),
        // An abort with a reason is recorded as that reason (`lock_lost: …`), not as the AbortError it caused.
        error:
          aborted === undefined
            ? redactText(error instanceof Error ? `${error.name}: ${error.message}` : String(error)).slice(
                0,
                2000,
              )
            : redactText(aborted.message).slice(0, 2000),
      }),
    );
    ingestMetrics.run('failed', (performance.now() - started) / 1000, { source, dimension: 'bars' });
    throw failure;
  }
}

const emptyChunk: SourceChunk = { rows: [], rejections: [], failures: [] };

/**
 * Yields every item with a flag on the last one, so the last window can carry the run's final
 * state; an empty source yields `empty` as its only (last) item, so every run commits its record.
 * It reads one item ahead and starts reading the one after while the caller works on the current
 * item: parsing the next window overlaps the database writing this one.
 */
async function* withLast<T>(items: AsyncIterable<T>, empty: T): AsyncGenerator<{ value: T; last: boolean }> {
  const iterator = items[Symbol.asyncIterator]();
  const current = await iterator.next();
  if (current.done === true) {
    yield { value: empty, last: true };
    return;
  }
  let value = current.value;
  let next = await iterator.next();
  for (;;) {
    if (next.done === true) {
      yield { value, last: true };
      return;
    }
    const afterNext = iterator.next();
    // Awaited below; until then a failure must not count as an unhandled rejection.
    afterNext.catch(() => undefined);
    yield { value, last: false };
    value = next.value;
    next = await afterNext;
  }
}

/** When the bar opening at `ts` closes. */
function barEnd(ts: number, timeframe: string): number {
  return isTimeframe(timeframe) ? nextBarOpen(new Date(ts), timeframe).getTime() : ts;
}

interface FinalState {
  status: IngestStatus;
  quality: RunQuality;
  freshnessSeconds: number | null;
  failedSymbols: string[];
  missingSymbols: string[];
  error: string | null;
}

function finalState(input: {
  request: BarIngestRequest;
  quality: QualityCollector;
  sources: SourcesCollector;
  now: Date;
  readiness: SystemConfig['readiness'];
  failures: readonly SymbolFailure[];
  requested: readonly string[];
  anyStored: boolean;
  timeframes: ReadonlySet<Timeframe>;
}): FinalState {
  const { request } = input;
  const report: RunQuality = {
    ...input.quality.report({
      window: request.provider === 'csv' ? undefined : request.window,
      now: input.now,
      readiness: input.readiness,
      ...(request.provider === 'csv'
        ? {}
        : { expected: { symbols: request.symbols, timeframe: request.timeframe } }),
    }),
    ...input.sources.report(),
  };
  const failedSymbols = [...new Set(input.failures.map((failure) => failure.symbol))].sort();
  const stored = new Set(input.quality.symbols());
  const missingSymbols = input.requested.filter((symbol) => !stored.has(symbol)).sort();
  const latest = input.quality.latestTs();
  const latestTimeframe = input.timeframes.size === 1 ? [...input.timeframes][0] : undefined;
  const freshnessSeconds =
    latest === undefined
      ? null
      : Math.max(0, Math.floor((input.now.getTime() - barEnd(latest, latestTimeframe ?? '')) / 1000));
  const everyRequestedFailed =
    input.requested.length > 0 && failedSymbols.length === input.requested.length && !input.anyStored;
  const status: IngestStatus = everyRequestedFailed
    ? 'failed'
    : failedSymbols.length > 0
      ? 'partial'
      : 'succeeded';
  const error =
    failedSymbols.length === 0
      ? null
      : redactText(
          input.failures.map((failure) => `${failure.symbol}: ${failure.error.message}`).join('; '),
        ).slice(0, 2000);
  return { status, quality: report, freshnessSeconds, failedSymbols, missingSymbols, error };
}

function eventWindow(
  request: BarIngestRequest,
  dataFrom: number,
  dataTo: number,
  producedAt: Date,
): IngestWindow {
  if (request.provider !== 'csv') return request.window;
  if (!Number.isFinite(dataFrom)) return { from: producedAt, to: producedAt };
  return { from: new Date(dataFrom), to: new Date(dataTo) };
}

function buildEvent(input: {
  runId: string;
  source: string;
  symbols: readonly string[];
  timeframe: Timeframe | undefined;
  window: IngestWindow;
  counts: Totals;
  rejectedByReason: Record<string, number>;
  freshnessSeconds: number | null;
  quality: RunQuality;
  producedAt: Date;
}): IngestRunEventInput {
  // Validated by insertIngestRunEvent.
  return {
    runId: input.runId,
    dimension: 'bars',
    source: input.source,
    symbols: [...input.symbols],
    ...(input.timeframe === undefined ? {} : { timeframe: input.timeframe }),
    window: { from: input.window.from.toISOString(), to: input.window.to.toISOString() },
    counts: {
      inserted: input.counts.inserted,
      updated: input.counts.updated,
      unchanged: input.counts.unchanged,
      rejected: input.counts.rejected,
    },
    rejectedByReason: input.rejectedByReason,
    freshnessSeconds: input.freshnessSeconds,
    quality: eventQuality(input.quality),
    producedAt: input.producedAt.toISOString(),
    traceContext: currentTraceContext() ?? newTraceContext(),
  };
}

/** A fresh, unsampled W3C context for processes without telemetry: the event still names a trace. */
function newTraceContext(): TraceContext {
  return { traceparent: `00-${randomBytes(16).toString('hex')}-${randomBytes(8).toString('hex')}-00` };
}

async function runInChildSpan<T>(
  name: string,
  parent: ReturnType<typeof context.active>,
  attributes: Record<string, number | string>,
  fn: () => Promise<T>,
): Promise<T> {
  return tracer.startActiveSpan(name, { attributes }, parent, async (span) => {
    try {
      return await fn();
    } catch (error) {
      span.setStatus({ code: SpanStatusCode.ERROR, message: redactText(String(error)) });
      throw error;
    } finally {
      span.end();
    }
  });
}

function recordRunMetrics(result: IngestResult, source: string, dimension = 'bars'): void {
  ingestMetrics.run(result.status, result.durationMs / 1000, { source, dimension });
  for (const series of result.quality.series) {
    if (series.freshnessSeconds !== null) {
      ingestMetrics.freshness(series.freshnessSeconds, {
        dimension: 'bars',
        symbol: series.symbol,
        timeframe: series.timeframe,
      });
    }
  }
}

/** Records a run that ended with an error; never masks that error with its own. */
async function recordFailure(pool: pg.Pool, record: IngestRunRecord): Promise<void> {
  try {
    await withTransaction(pool, (client) => recordIngestRun(client, record));
  } catch {
    // The database may be what failed; the caller rethrows the original error.
  }
}

/** True when trying again later can help (a provider's own verdict, or a transient database error). */
export function isRetriable(error: unknown): boolean {
  if (error === null || typeof error !== 'object') return false;
  const flagged = (error as { retriable?: unknown }).retriable;
  if (typeof flagged === 'boolean') return flagged;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') {
    // Connection failures, admin shutdown, serialization failures, deadlocks, too many connections.
    return (
      /^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|ENOTFOUND)$/.test(code) ||
      /^(08|57P0|40001|40P01|53300)/.test(code)
    );
  }
  const message = (error as { message?: unknown }).message;
  return typeof message === 'string' && /timeout|Connection terminated/i.test(message);
}

/**
 * True when the input itself is wrong (a bad request, a file that is not a bar CSV): retrying
 * cannot help, and the CLI exits 2.
 *
 * @example if (isBadInput(error)) process.exitCode = 2;
 */
export function isBadInput(error: unknown): boolean {
  return error instanceof IngestUsageError || error instanceof CsvFormatError;
}
