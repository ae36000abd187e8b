import { context, trace } from '@opentelemetry/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  currentTraceContext,
  extractKafkaContext,
  extractTraceContext,
  injectKafkaHeaders,
  withExtractedContext,
} from './propagation.ts';
import { startInMemoryTracing, type InMemoryTracing } from './test-support/in-memory-tracing.ts';

describe('trace context propagation helpers', () => {
  let tracing: InMemoryTracing;
  beforeAll(() => {
    tracing = startInMemoryTracing();
  });
  afterAll(async () => {
    await tracing.stop();
  });

  function inSpan<T>(fn: (traceId: string, spanId: string) => T): T {
    return tracing.tracer.startActiveSpan('unit span', (span) => {
      try {
        return fn(span.spanContext().traceId, span.spanContext().spanId);
      } finally {
        span.end();
      }
    });
  }

  it('injects a W3C traceparent into Kafka headers, keeping the headers already there', () => {
    inSpan((traceId, spanId) => {
      const headers = injectKafkaHeaders({ 'content-type': 'application/json' });
      expect(headers).toEqual({
        'content-type': 'application/json',
        traceparent: `00-${traceId}-${spanId}-01`,
      });
    });
  });

  it('adds nothing outside a span', () => {
    expect(injectKafkaHeaders({ a: 'b' })).toEqual({ a: 'b' });
    expect(currentTraceContext()).toBeUndefined();
  });

  it('extracts the context from Buffer headers as kafkajs delivers them, including repeated ones', () => {
    const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    for (const headers of [
      { traceparent: Buffer.from(traceparent), tracestate: Buffer.from('vendor=1') },
      {
        traceparent: [
          Buffer.from(traceparent),
          Buffer.from('00-ffffffffffffffffffffffffffffffff-ffffffffffffffff-01'),
        ],
      },
    ]) {
      const spanContext = trace.getSpanContext(extractKafkaContext(headers));
      expect(spanContext).toMatchObject({
        traceId: '0af7651916cd43dd8448eb211c80319c',
        spanId: 'b7ad6b7169203331',
        isRemote: true,
      });
    }
  });

  it('ignores missing or malformed trace headers', () => {
    expect(trace.getSpanContext(extractKafkaContext(undefined))).toBeUndefined();
    expect(
      trace.getSpanContext(extractKafkaContext({ traceparent: Buffer.from('not-a-traceparent') })),
    ).toBeUndefined();
    expect(trace.getSpanContext(extractTraceContext({ traceparent: '00-zz-yy-01' }))).toBeUndefined();
  });

  it('round-trips BullMQ job trace context, tracestate included', () => {
    const carried = {
      traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
      tracestate: 'vendor=1',
    };
    const extracted = extractTraceContext(carried);
    expect(withExtractedContext(extracted, () => currentTraceContext())).toEqual(carried);
    expect(withExtractedContext(extracted, () => trace.getSpanContext(context.active())?.traceId)).toBe(
      '0af7651916cd43dd8448eb211c80319c',
    );
  });
});
