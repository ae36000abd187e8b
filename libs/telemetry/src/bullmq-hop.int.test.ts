import { SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { Queue, QueueEvents, Worker, type ConnectionOptions } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { endpoints } from './test-support/endpoints.ts';
import { uniqueName } from '@backbone/testing';
import {
  currentTraceContext,
  runInSpan,
  startBullmqConsumerSpan,
  startBullmqProducerSpan,
  type TraceContext,
} from './propagation.ts';
import { startInMemoryTracing, type InMemoryTracing } from './test-support/in-memory-tracing.ts';

interface WarmJob {
  dataset: string;
  traceContext?: TraceContext;
}

describe('trace context across a real BullMQ hop', () => {
  const queueName = uniqueName('telemetry_queue');
  // A unique prefix keeps every key this test writes apart from other tests and workers.
  const prefix = uniqueName('telemetry_bull');
  let connection: ConnectionOptions;
  let tracing: InMemoryTracing;
  let queue: Queue<WarmJob>;
  let queueEvents: QueueEvents;
  let worker: Worker<WarmJob>;
  const activeSpanIdsInProcessor = new Map<string, string | undefined>();

  beforeAll(async () => {
    const redisUrl = new URL(endpoints().redisUrl);
    connection = { host: redisUrl.hostname, port: Number(redisUrl.port), maxRetriesPerRequest: null };
    tracing = startInMemoryTracing();
    queue = new Queue<WarmJob>(queueName, { connection, prefix });
    queueEvents = new QueueEvents(queueName, { connection, prefix });
    worker = new Worker<WarmJob>(
      queueName,
      (job) =>
        runInSpan(startBullmqConsumerSpan({ queue: queueName, job, tracer: tracing.tracer }), () => {
          activeSpanIdsInProcessor.set(job.data.dataset, trace.getActiveSpan()?.spanContext().spanId);
          if (job.data.dataset === 'boom') throw new Error('cache redis://:hunter2@cache:6379 refused');
          return job.data.dataset;
        }),
      { connection, prefix },
    );
    await Promise.all([queueEvents.waitUntilReady(), worker.waitUntilReady()]);
  });

  afterAll(async () => {
    await worker.close();
    await queueEvents.close();
    await queue.obliterate({ force: true });
    await queue.close();
    await tracing.stop();
  });

  it('makes the worker span a child of the enqueueing span, in the same trace', async () => {
    const producerSpan = startBullmqProducerSpan({
      queue: queueName,
      jobName: 'warm',
      tracer: tracing.tracer,
    });
    const job = await runInSpan(producerSpan, () =>
      queue.add('warm', { dataset: 'bars:EURUSD:1m', traceContext: currentTraceContext() }),
    );
    expect(job.data.traceContext?.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    await expect(job.waitUntilFinished(queueEvents, 20_000)).resolves.toBe('bars:EURUSD:1m');

    const sent = tracing.span(`send ${queueName}`);
    const processed = tracing.span(`process ${queueName}`);
    expect(sent.kind).toBe(SpanKind.PRODUCER);
    expect(sent.attributes).toMatchObject({
      'messaging.system': 'bullmq',
      'messaging.operation.type': 'send',
      'messaging.destination.name': queueName,
    });
    expect(processed.kind).toBe(SpanKind.CONSUMER);
    expect(processed.spanContext().traceId).toBe(sent.spanContext().traceId);
    expect(processed.parentSpanContext?.spanId).toBe(sent.spanContext().spanId);
    expect(processed.attributes).toEqual({
      'messaging.system': 'bullmq',
      'messaging.operation.type': 'process',
      'messaging.operation.name': 'warm',
      'messaging.destination.name': queueName,
      'messaging.message.id': job.id,
    });
    expect(activeSpanIdsInProcessor.get('bars:EURUSD:1m')).toBe(processed.spanContext().spanId);
  });

  it('starts a new trace for a job that carries no trace context', async () => {
    const job = await queue.add('warm', { dataset: 'bars:GBPUSD:1m' });
    await expect(job.waitUntilFinished(queueEvents, 20_000)).resolves.toBe('bars:GBPUSD:1m');

    const processed = tracing
      .finishedSpans()
      .find((span) => span.attributes['messaging.message.id'] === job.id);
    expect(processed?.name).toBe(`process ${queueName}`);
    expect(processed?.parentSpanContext).toBeUndefined();
  });

  it('marks the worker span as failed, with the error message redacted, when the job throws', async () => {
    const job = await queue.add('warm', { dataset: 'boom', traceContext: undefined }, { attempts: 1 });
    await expect(job.waitUntilFinished(queueEvents, 20_000)).rejects.toThrow('refused');

    const processed = tracing
      .finishedSpans()
      .find((span) => span.attributes['messaging.message.id'] === job.id);
    expect(processed?.status).toEqual({
      code: SpanStatusCode.ERROR,
      message: 'cache redis://:***@cache:6379 refused',
    });
    expect(processed?.events.map((event) => event.attributes?.['exception.message'])).toEqual([
      'cache redis://:***@cache:6379 refused',
    ]);
  });
});
