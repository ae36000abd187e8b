import { setTimeout as sleep } from 'node:timers/promises';
import { context, trace, type Tracer } from '@opentelemetry/api';
import { currentTraceContext, runInSpan, startKafkaProducerSpan } from '@backbone/telemetry';
import pRetry from 'p-retry';
import { KafkaClientError } from '../kafka-client-error.ts';
import type { OutgoingMessage, ProducerPort } from '../port.ts';
import type { BarFeed } from './generate.ts';

export interface PublishFeedOptions {
  readonly producer: ProducerPort;
  readonly topic: string;
  readonly feed: BarFeed;
  /** Exactly this many bars are produced. */
  readonly totalBars: number;
  /** Bars per second; `null` sends as fast as the broker acknowledges (benchmarks). */
  readonly ratePerSecond: number | null;
  /** Most bars in one produce request (default 2000: well under 1 MiB per partition batch). */
  readonly maxBatchSize?: number;
  /** Called about once per `progressIntervalMs` (default 1000) and once at the end. */
  readonly onProgress?: (progress: FeedProgress) => void;
  readonly progressIntervalMs?: number;
  /** Stops after the send in flight; the summary counts what was acknowledged. */
  readonly signal?: AbortSignal;
  /**
   * Rides out a broker outage: a request that fails with a retriable error (the broker away, no
   * leader yet) is sent again, after a pause doubling from 100 ms to 2 s, until it is acknowledged,
   * it has been failing for `maxOutageMs`, or `signal` aborts (the feed then fails). Without it,
   * the first failure ends the feed. Other errors (a missing topic, an oversized record) end it at
   * once.
   */
  readonly resend?: ResendOptions;
  /** Monotonic milliseconds (injected for tests; default `performance.now`). */
  readonly now?: () => number;
  /** Tracer of the per-request producer spans (default: the global one, a no-op without the SDK). */
  readonly tracer?: Tracer;
}

export interface ResendOptions {
  /** How long one request may keep failing before the feed gives up (`Infinity`: never). */
  readonly maxOutageMs: number;
  /** Called before each re-send, e.g. to log it. */
  readonly onResend?: (error: Error, pauseMs: number) => void;
}

export interface FeedProgress {
  readonly produced: number;
  readonly totalBars: number;
  readonly elapsedSeconds: number;
  readonly ratePerSecond: number;
}

/** What a feed run produced; `produced` counts bars the broker acknowledged. */
export interface FeedSummary {
  readonly produced: number;
  readonly durationSeconds: number;
  readonly ratePerSecond: number;
  readonly lastTsBySymbol: Record<string, string>;
}

/**
 * Publishes `totalBars` bars of `feed` to `topic` (key = symbol, value = the wire JSON), paced to
 * `ratePerSecond` on a schedule: bar i is due at i / rate seconds after the start, and everything
 * due is sent in one request, so a slow request is followed by a bigger batch instead of the feed
 * falling behind for good. One request is in flight at a time: per-partition order (and so
 * strictly increasing ts per symbol) must not depend on retry timing.
 *
 * Each produce request is one PRODUCER span `send <topic>`, and every record of the request
 * carries that span's `traceparent` header: a consumer takes its trace from whichever record
 * starts its own batch, so every record needs it. The header is one string shared by the
 * request; without a started telemetry SDK the span is a no-op and no header is added.
 *
 * Re-sending a request (`resend`) cannot duplicate records: the producer is idempotent and kafkajs
 * hands a failed request's sequence numbers back, so the broker drops a batch it already wrote.
 *
 * @example const summary = await publishFeed({ producer, topic: 'market.bars.v1', feed, totalBars: 600, ratePerSecond: 100 });
 */
export async function publishFeed(options: PublishFeedOptions): Promise<FeedSummary> {
  const { producer, topic, feed, totalBars, ratePerSecond, signal } = options;
  const maxBatchSize = options.maxBatchSize ?? 2000;
  const progressIntervalMs = options.progressIntervalMs ?? 1000;
  const now = options.now ?? (() => performance.now());
  const startedAt = now();
  let produced = 0;
  let lastProgressAt = startedAt;

  const progress = (): FeedProgress => {
    const elapsedSeconds = (now() - startedAt) / 1000;
    return {
      produced,
      totalBars,
      elapsedSeconds,
      ratePerSecond: elapsedSeconds > 0 ? produced / elapsedSeconds : 0,
    };
  };

  // The next batch is encoded while the previous request is on the wire; requests themselves stay
  // strictly one after another. `generated` runs ahead of `produced` by at most one batch.
  let generated = 0;
  let inFlight: Promise<{ error: unknown } | undefined> = Promise.resolve(undefined);
  while (generated < totalBars && signal?.aborted !== true) {
    const elapsedMs = now() - startedAt;
    const due =
      ratePerSecond === null
        ? totalBars
        : Math.min(totalBars, Math.floor((elapsedMs / 1000) * ratePerSecond) + 1);
    if (due <= generated) {
      // Bar i (from 0) is due at i / rate seconds; only paced feeds get here.
      const nextDueMs = (generated / (ratePerSecond ?? Infinity)) * 1000;
      await sleep(Math.max(1, nextDueMs - elapsedMs), undefined, { signal }).catch(() => undefined);
      continue;
    }
    const count = Math.min(due - generated, maxBatchSize);
    const span = startKafkaProducerSpan({
      topic,
      ...(options.tracer === undefined ? {} : { tracer: options.tracer }),
      attributes: { 'messaging.batch.message_count': count },
    });
    const traceContext = currentTraceContext(trace.setSpan(context.active(), span));
    // One object for the whole request: records are read, never changed, on their way out.
    const headers: Readonly<Record<string, string>> | undefined =
      traceContext === undefined ? undefined : { ...traceContext };
    const messages: OutgoingMessage[] = [];
    for (let i = 0; i < count; i += 1) {
      const bar = feed.next();
      const value = JSON.stringify(bar);
      messages.push(headers === undefined ? { key: bar.symbol, value } : { key: bar.symbol, value, headers });
    }
    generated += count;
    await settle(inFlight);
    // The failure is kept, not left unhandled while the next batch is encoded or paced.
    inFlight = runInSpan(span, () =>
      sendUntilAcknowledged(() => producer.send(topic, messages), options.resend, signal),
    ).then(
      () => {
        produced += count;
        if (options.onProgress !== undefined && now() - lastProgressAt >= progressIntervalMs) {
          lastProgressAt = now();
          options.onProgress(progress());
        }
        return undefined;
      },
      (error: unknown) => ({ error }),
    );
  }
  await settle(inFlight);
  const final = progress();
  options.onProgress?.(final);
  return {
    produced,
    durationSeconds: final.elapsedSeconds,
    ratePerSecond: final.ratePerSecond,
    lastTsBySymbol: feed.lastTsBySymbol(),
  };
}

/** One request, re-sent on retriable failures when `resend` is given. */
async function sendUntilAcknowledged<T>(
  send: () => Promise<T>,
  resend: ResendOptions | undefined,
  signal: AbortSignal | undefined,
): Promise<T> {
  if (resend === undefined) return send();
  return pRetry(send, {
    retries: Infinity,
    maxRetryTime: resend.maxOutageMs,
    minTimeout: 100,
    maxTimeout: 2_000,
    factor: 2,
    ...(signal === undefined ? {} : { signal }),
    shouldRetry: ({ error, retryDelay }) => {
      if (!(error instanceof KafkaClientError && error.retriable)) return false;
      resend.onResend?.(error, retryDelay);
      return true;
    },
  });
}

/** Waits for the request in flight and rethrows its failure. */
async function settle(inFlight: Promise<{ error: unknown } | undefined>): Promise<void> {
  const failed = await inFlight;
  if (failed !== undefined) throw failed.error;
}
