import { SpanKind } from '@opentelemetry/api';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { decodeBarMessage } from '@backbone/contracts';
import { uniqueName, waitFor } from '@backbone/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KafkaClientError } from '../kafka-client-error.ts';
import type { ProducerPort } from '../port.ts';
import { collect, createKafkaFixture, type KafkaFixture } from '../test-support/kafka-fixture.ts';
import { createBarFeed, defaultFeedStart } from './generate.ts';
import { publishFeed, type FeedProgress } from './publish.ts';

let kafka: KafkaFixture;
beforeAll(async () => {
  kafka = await createKafkaFixture();
});
afterAll(async () => {
  await kafka.dispose();
});

describe('publishFeed', () => {
  it('produces exactly rate × duration valid bars, keyed by symbol, ts strictly increasing per symbol', async () => {
    const topic = await kafka.topic('feed', 3);
    const symbols = ['EURUSD', 'GBPUSD', 'USDJPY', 'XAUUSD'];
    const rate = 400;
    const durationSeconds = 1.5;
    const totalBars = rate * durationSeconds;
    const feed = createBarFeed({
      symbols,
      timeframe: '1m',
      seed: 11,
      start: defaultFeedStart(new Date(), '1m', totalBars, symbols.length),
    });
    const progress: FeedProgress[] = [];
    const summary = await publishFeed({
      producer: kafka.producer,
      topic,
      feed,
      totalBars,
      ratePerSecond: rate,
      maxBatchSize: 50,
      progressIntervalMs: 200,
      onProgress: (p) => progress.push(p),
    });
    expect(summary.produced).toBe(totalBars);
    // Paced: the last bar is due at (total − 1) / rate seconds, so the run cannot be shorter.
    expect(summary.durationSeconds).toBeGreaterThanOrEqual((totalBars - 1) / rate);
    expect(progress.at(-1)?.produced).toBe(totalBars);

    const consumed = await collect(kafka.consumer(uniqueName('g')), [topic]);
    await waitFor(() => consumed.messages.length >= totalBars, {
      timeoutMs: 20_000,
      description: `${totalBars} bars`,
    });
    expect(consumed.messages).toHaveLength(totalBars);

    const lastTs = new Map<string, number>();
    const problems: string[] = [];
    for (const message of consumed.messages) {
      const parsed = decodeBarMessage(message.value);
      if (!parsed.ok) {
        problems.push(`${message.offset}: ${parsed.reason}`);
        continue;
      }
      const { bar } = parsed;
      if (message.key?.toString() !== bar.symbol)
        problems.push(`${message.offset}: key ${message.key?.toString()}`);
      const ts = Date.parse(bar.ts);
      if (ts <= (lastTs.get(bar.symbol) ?? -Infinity))
        problems.push(`${bar.symbol} ts ${bar.ts} not increasing`);
      lastTs.set(bar.symbol, ts);
    }
    expect(problems).toEqual([]);
    expect([...lastTs.keys()].sort()).toEqual([...symbols].sort());
    expect(
      Object.fromEntries(
        [...lastTs].map(([symbol, ts]) => [symbol, new Date(ts).toISOString().replace('.000Z', 'Z')]),
      ),
    ).toEqual(summary.lastTsBySymbol);
  });

  it('stops at an abort and counts only what the broker acknowledged', async () => {
    const topic = await kafka.topic('feed_abort', 1);
    const controller = new AbortController();
    const feed = createBarFeed({
      symbols: ['EURUSD'],
      timeframe: '1m',
      seed: 1,
      start: new Date('2026-01-05T00:00:00Z'),
    });
    const summary = await publishFeed({
      producer: kafka.producer,
      topic,
      feed,
      totalBars: 1_000_000,
      ratePerSecond: 100,
      signal: controller.signal,
      progressIntervalMs: 0,
      onProgress: (p) => {
        if (p.produced >= 20) controller.abort();
      },
    });
    expect(summary.produced).toBeGreaterThanOrEqual(20);
    expect(summary.produced).toBeLessThan(1_000_000);
    const [offsets] = await kafka.admin.fetchTopicOffsets(topic);
    expect(offsets?.high).toBe(BigInt(summary.produced));
  });

  it('sends each request inside a producer span whose traceparent every record of the request carries', async () => {
    const topic = await kafka.topic('feed_traced', 2);
    const exporter = new InMemorySpanExporter();
    const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
    const totalBars = 30;
    const summary = await publishFeed({
      producer: kafka.producer,
      topic,
      feed: createBarFeed({
        symbols: ['EURUSD', 'GBPUSD'],
        timeframe: '1m',
        seed: 3,
        start: new Date('2026-01-05T00:00:00Z'),
      }),
      totalBars,
      ratePerSecond: null,
      maxBatchSize: 10,
      tracer: provider.getTracer('feed-test'),
    });
    expect(summary.produced).toBe(totalBars);
    const spans = exporter.getFinishedSpans();
    expect(
      spans.map((span) => [span.name, span.kind, span.attributes['messaging.batch.message_count']]),
    ).toEqual([10, 10, 10].map((count) => [`send ${topic}`, SpanKind.PRODUCER, count]));

    const consumed = await collect(kafka.consumer(uniqueName('g')), [topic]);
    await waitFor(() => consumed.messages.length >= totalBars, {
      timeoutMs: 20_000,
      description: `${totalBars} bars`,
    });
    // Records of one request share its span; each span is the parent named by its records.
    const recordsPerSpan = new Map<string, number>();
    for (const message of consumed.messages) {
      const [, traceId, spanId] = (message.headers['traceparent'] ?? '').split('-');
      const span = spans.find((candidate) => candidate.spanContext().spanId === spanId);
      expect(span?.spanContext().traceId, `record ${message.offset} of partition ${message.partition}`).toBe(
        traceId,
      );
      recordsPerSpan.set(spanId ?? '', (recordsPerSpan.get(spanId ?? '') ?? 0) + 1);
    }
    expect([...recordsPerSpan.values()]).toEqual([10, 10, 10]);
    await provider.shutdown();
  });

  it('adds no trace headers when no telemetry is started', async () => {
    const topic = await kafka.topic('feed_untraced', 1);
    await publishFeed({
      producer: kafka.producer,
      topic,
      feed: createBarFeed({
        symbols: ['EURUSD'],
        timeframe: '1m',
        seed: 4,
        start: new Date('2026-01-05T00:00:00Z'),
      }),
      totalBars: 5,
      ratePerSecond: null,
    });
    const consumed = await collect(kafka.consumer(uniqueName('g')), [topic]);
    await waitFor(() => consumed.messages.length >= 5, { timeoutMs: 20_000, description: '5 bars' });
    expect(consumed.messages.map((message) => message.headers)).toEqual([{}, {}, {}, {}, {}]);
  });

  describe('resend', () => {
    /**
     * The real producer behind a cut: requests numbered in `cut` fail (before reaching the broker)
     * with the error a broker outage gives. A real outage is the kafka drill's job (run-drill).
     */
    function cutOff(producer: ProducerPort, cut: ReadonlySet<number>): ProducerPort & { attempts: number } {
      let attempts = 0;
      const outage = () =>
        new KafkaClientError('producer.send failed: Connection error: connect ECONNREFUSED', {
          operation: 'producer.send',
          retriable: true,
        });
      return {
        get attempts() {
          return attempts;
        },
        connect: () => producer.connect(),
        close: () => producer.close(),
        send: (topic, messages) => {
          attempts += 1;
          return cut.has(attempts) ? Promise.reject(outage()) : producer.send(topic, messages);
        },
        sendBatch: (batches) => {
          attempts += 1;
          return cut.has(attempts) ? Promise.reject(outage()) : producer.sendBatch(batches);
        },
      };
    }

    it('sends a request again after a retriable failure: every bar arrives once, in order', async () => {
      const topic = await kafka.topic('feed_resend', 1);
      const producer = cutOff(kafka.producer, new Set([2, 3, 5]));
      const resends: number[] = [];
      const summary = await publishFeed({
        producer,
        topic,
        feed: createBarFeed({
          symbols: ['EURUSD'],
          timeframe: '1m',
          seed: 5,
          start: new Date('2026-01-05T00:00:00Z'),
        }),
        totalBars: 40,
        ratePerSecond: null,
        maxBatchSize: 10,
        resend: { maxOutageMs: 10_000, onResend: (_error, pauseMs) => resends.push(pauseMs) },
      });
      expect(summary.produced).toBe(40);
      expect(producer.attempts).toBe(7);
      expect(resends).toHaveLength(3);
      const consumed = await collect(kafka.consumer(uniqueName('g')), [topic]);
      await waitFor(() => consumed.messages.length >= 40, { timeoutMs: 20_000, description: '40 bars' });
      const tss = consumed.messages.map((message) => {
        const parsed = decodeBarMessage(message.value);
        return parsed.ok ? Date.parse(parsed.bar.ts) : NaN;
      });
      expect(tss).toEqual(
        Array.from({ length: 40 }, (_, i) => Date.parse('2026-01-05T00:00:00Z') + i * 60_000),
      );
    });

    it('gives up once one request has failed for maxOutageMs', async () => {
      const topic = await kafka.topic('feed_outage', 1);
      const producer = cutOff(kafka.producer, new Set(Array.from({ length: 1000 }, (_, i) => i + 2)));
      const failure = publishFeed({
        producer,
        topic,
        feed: createBarFeed({
          symbols: ['EURUSD'],
          timeframe: '1m',
          seed: 6,
          start: new Date('2026-01-05T00:00:00Z'),
        }),
        totalBars: 20,
        ratePerSecond: null,
        maxBatchSize: 10,
        resend: { maxOutageMs: 500 },
      });
      await expect(failure).rejects.toMatchObject({ retriable: true, operation: 'producer.send' });
      // The first request, acknowledged before the cut, stays the only one on the topic.
      expect(producer.attempts).toBeGreaterThan(2);
      const [offsets] = await kafka.admin.fetchTopicOffsets(topic);
      expect(offsets?.high).toBe(10n);
    });

    it('does not re-send on a permanent error: a topic that does not exist ends the feed', async () => {
      const resends: unknown[] = [];
      const failure = publishFeed({
        producer: kafka.producer,
        topic: uniqueName('feed_missing'),
        feed: createBarFeed({
          symbols: ['EURUSD'],
          timeframe: '1m',
          seed: 8,
          start: new Date('2026-01-05T00:00:00Z'),
        }),
        totalBars: 5,
        ratePerSecond: null,
        resend: { maxOutageMs: 60_000, onResend: (error) => resends.push(error) },
      });
      await expect(failure).rejects.toMatchObject({ retriable: false });
      expect(resends).toEqual([]);
    });
  });
});
