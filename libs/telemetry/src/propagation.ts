import {
  context,
  defaultTextMapGetter,
  defaultTextMapSetter,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type Span,
  type Tracer,
} from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { redactText } from '@backbone/config';
import {
  ATTR_MESSAGING_CONSUMER_GROUP_NAME,
  ATTR_MESSAGING_DESTINATION_NAME,
  ATTR_MESSAGING_DESTINATION_PARTITION_ID,
  ATTR_MESSAGING_KAFKA_MESSAGE_KEY,
  ATTR_MESSAGING_KAFKA_OFFSET,
  ATTR_MESSAGING_MESSAGE_ID,
  ATTR_MESSAGING_OPERATION_NAME,
  ATTR_MESSAGING_OPERATION_TYPE,
  ATTR_MESSAGING_SYSTEM,
} from './semconv.ts';

/**
 * The wire format between workers is W3C Trace Context (`traceparent` / `tracestate`), always.
 * We use the W3C propagator directly instead of the global one, so the format on Kafka headers
 * and in BullMQ job data is a fixed contract that does not depend on how a process configured
 * its SDK (or whether it started one at all).
 */
const w3c = new W3CTraceContextPropagator();

const TRACER_NAME = '@backbone/telemetry';

/** Kafka message headers as kafkajs types them (`IHeaders`); values arrive as Buffers. */
export type KafkaHeaders = Record<string, Buffer | string | (Buffer | string)[] | undefined>;

/** W3C trace context as it travels inside a BullMQ job's data (`data.traceContext`). */
export interface TraceContext {
  traceparent: string;
  tracestate?: string;
}

/**
 * Returns a copy of `headers` with the W3C trace context of `ctx` (default: the active context)
 * added. Without an active sampled span there is nothing to inject and the copy is unchanged.
 *
 * @example await producer.send({ topic, messages: [{ key, value, headers: injectKafkaHeaders() }] });
 */
export function injectKafkaHeaders(
  headers: KafkaHeaders = {},
  ctx: Context = context.active(),
): KafkaHeaders {
  const carrier: Record<string, string> = {};
  w3c.inject(ctx, carrier, defaultTextMapSetter);
  return { ...headers, ...carrier };
}

/**
 * The context carried by a consumed Kafka message's headers, on top of `base` (default: the
 * active context). Headers without a valid `traceparent` yield `base` unchanged.
 *
 * @example const parent = extractKafkaContext(message.headers);
 */
export function extractKafkaContext(
  headers: KafkaHeaders | undefined,
  base: Context = context.active(),
): Context {
  const carrier: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers ?? {})) {
    // kafkajs delivers header values as Buffers (or arrays for repeated headers); the W3C
    // spec allows one traceparent, so the first value wins.
    const first = Array.isArray(value) ? value[0] : value;
    if (first !== undefined) carrier[name.toLowerCase()] = first.toString();
  }
  return w3c.extract(base, carrier, defaultTextMapGetter);
}

/**
 * The W3C trace context of `ctx` (default: the active context), for a BullMQ job's data;
 * `undefined` when there is no span to continue.
 *
 * @example await queue.add('ingest', { ...payload, traceContext: currentTraceContext() });
 */
export function currentTraceContext(ctx: Context = context.active()): TraceContext | undefined {
  const carrier: Record<string, string> = {};
  w3c.inject(ctx, carrier, defaultTextMapSetter);
  const { traceparent, tracestate } = carrier;
  if (traceparent === undefined) return undefined;
  return tracestate === undefined ? { traceparent } : { traceparent, tracestate };
}

/**
 * The context described by a BullMQ job's `traceContext`, on top of `base` (default: the root
 * context, because a job is a new unit of work whose only parent is the one that enqueued it).
 *
 * @example const parent = extractTraceContext(job.data.traceContext);
 */
export function extractTraceContext(
  traceContext: TraceContext | undefined,
  base: Context = ROOT_CONTEXT,
): Context {
  if (traceContext === undefined) return base;
  const carrier: Record<string, string> = { traceparent: traceContext.traceparent };
  if (traceContext.tracestate !== undefined) carrier['tracestate'] = traceContext.tracestate;
  return w3c.extract(base, carrier, defaultTextMapGetter);
}

/**
 * Runs `fn` with `ctx` as the active context, so spans it starts and log lines it writes belong
 * to the extracted trace.
 *
 * @example await withExtractedContext(extractKafkaContext(message.headers), () => handle(message));
 */
export function withExtractedContext<T>(ctx: Context, fn: () => T): T {
  return context.with(ctx, fn);
}

/** Options common to the span helpers. */
export interface SpanOptions {
  /** Tracer to use; defaults to the global tracer named `@backbone/telemetry`. */
  tracer?: Tracer;
  /** Extra attributes for the span. */
  attributes?: Attributes;
}

/**
 * Starts a CONSUMER span named `name` whose parent is `parent` (an extracted context). The span
 * is not made active; run the work inside it with {@link runInSpan}.
 *
 * @example const span = startConsumerSpan('process ingest', extractTraceContext(job.data.traceContext));
 */
export function startConsumerSpan(name: string, parent: Context, options: SpanOptions = {}): Span {
  const tracer = options.tracer ?? trace.getTracer(TRACER_NAME);
  return tracer.startSpan(name, { kind: SpanKind.CONSUMER, attributes: options.attributes ?? {} }, parent);
}

/** Identifies a Kafka message being produced. */
export interface KafkaProduceTarget extends SpanOptions {
  topic: string;
  key?: Buffer | string | null;
}

/**
 * Starts a PRODUCER span `send <topic>` as a child of the active context. Inject its context
 * into the message headers with `injectKafkaHeaders(headers, trace.setSpan(context.active(), span))`,
 * or run the send inside {@link runInSpan} and call `injectKafkaHeaders()` there.
 *
 * @example const span = startKafkaProducerSpan({ topic: 'market.bars.v1', key: 'EURUSD' });
 */
export function startKafkaProducerSpan(target: KafkaProduceTarget): Span {
  const tracer = target.tracer ?? trace.getTracer(TRACER_NAME);
  const attributes: Attributes = {
    [ATTR_MESSAGING_SYSTEM]: 'kafka',
    [ATTR_MESSAGING_OPERATION_TYPE]: 'send',
    [ATTR_MESSAGING_OPERATION_NAME]: 'send',
    [ATTR_MESSAGING_DESTINATION_NAME]: target.topic,
    ...keyAttribute(target.key),
    ...target.attributes,
  };
  return tracer.startSpan(`send ${target.topic}`, { kind: SpanKind.PRODUCER, attributes });
}

/** A consumed Kafka message, shaped like kafkajs's `eachMessage` payload. */
export interface KafkaConsumedMessage extends SpanOptions {
  topic: string;
  partition: number;
  message: { key: Buffer | string | null; offset: string; headers?: KafkaHeaders };
  groupId?: string;
}

/**
 * Starts a CONSUMER span `process <topic>` whose parent is the producer's context from the
 * message headers, with the messaging attributes (system, destination, partition, offset, key).
 *
 * @example
 * eachMessage: async ({ topic, partition, message }) => {
 *   const span = startKafkaConsumerSpan({ topic, partition, message, groupId });
 *   await runInSpan(span, () => handle(message));
 * }
 */
export function startKafkaConsumerSpan(consumed: KafkaConsumedMessage): Span {
  const { topic, partition, message } = consumed;
  const attributes: Attributes = {
    [ATTR_MESSAGING_SYSTEM]: 'kafka',
    [ATTR_MESSAGING_OPERATION_TYPE]: 'process',
    [ATTR_MESSAGING_OPERATION_NAME]: 'process',
    [ATTR_MESSAGING_DESTINATION_NAME]: topic,
    [ATTR_MESSAGING_DESTINATION_PARTITION_ID]: String(partition),
    [ATTR_MESSAGING_KAFKA_OFFSET]: Number(message.offset),
    ...keyAttribute(message.key),
    ...(consumed.groupId === undefined ? {} : { [ATTR_MESSAGING_CONSUMER_GROUP_NAME]: consumed.groupId }),
    ...consumed.attributes,
  };
  return startConsumerSpan(`process ${topic}`, extractKafkaContext(message.headers), {
    ...(consumed.tracer === undefined ? {} : { tracer: consumed.tracer }),
    attributes,
  });
}

/** Identifies a BullMQ job being enqueued. */
export interface BullmqEnqueueTarget extends SpanOptions {
  queue: string;
  jobName: string;
}

/**
 * Starts a PRODUCER span `send <queue>` for enqueueing a BullMQ job, child of the active context.
 *
 * @example const span = startBullmqProducerSpan({ queue: 'ingest', jobName: 'ingest-plan' });
 */
export function startBullmqProducerSpan(target: BullmqEnqueueTarget): Span {
  const tracer = target.tracer ?? trace.getTracer(TRACER_NAME);
  const attributes: Attributes = {
    [ATTR_MESSAGING_SYSTEM]: 'bullmq',
    [ATTR_MESSAGING_OPERATION_TYPE]: 'send',
    [ATTR_MESSAGING_OPERATION_NAME]: target.jobName,
    [ATTR_MESSAGING_DESTINATION_NAME]: target.queue,
    ...target.attributes,
  };
  return tracer.startSpan(`send ${target.queue}`, { kind: SpanKind.PRODUCER, attributes });
}

/** A BullMQ job being processed, shaped like the parts of `Job` the span needs. */
export interface BullmqProcessedJob extends SpanOptions {
  queue: string;
  job: { name: string; id?: string | undefined; data: { traceContext?: TraceContext | undefined } };
}

/**
 * Starts a CONSUMER span `process <queue>` whose parent is the enqueuer's context from
 * `job.data.traceContext`.
 *
 * @example new Worker('ingest', (job) => runInSpan(startBullmqConsumerSpan({ queue: 'ingest', job }), () => run(job)));
 */
export function startBullmqConsumerSpan(processed: BullmqProcessedJob): Span {
  const { queue, job } = processed;
  const attributes: Attributes = {
    [ATTR_MESSAGING_SYSTEM]: 'bullmq',
    [ATTR_MESSAGING_OPERATION_TYPE]: 'process',
    [ATTR_MESSAGING_OPERATION_NAME]: job.name,
    [ATTR_MESSAGING_DESTINATION_NAME]: queue,
    ...(job.id === undefined ? {} : { [ATTR_MESSAGING_MESSAGE_ID]: job.id }),
    ...processed.attributes,
  };
  return startConsumerSpan(`process ${queue}`, extractTraceContext(job.data.traceContext), {
    ...(processed.tracer === undefined ? {} : { tracer: processed.tracer }),
    attributes,
  });
}

/**
 * Runs `fn` with `span` active, records a thrown error on the span (message redacted, status
 * ERROR) and rethrows it, and always ends the span.
 *
 * @example await runInSpan(startKafkaProducerSpan({ topic }), () => producer.send({ ... }));
 */
export async function runInSpan<T>(span: Span, fn: () => Promise<T> | T): Promise<T> {
  try {
    return await context.with(trace.setSpan(context.active(), span), fn);
  } catch (error) {
    const message = redactText(error instanceof Error ? error.message : String(error));
    span.recordException({ name: error instanceof Error ? error.name : 'Error', message });
    span.setStatus({ code: SpanStatusCode.ERROR, message });
    throw error;
  } finally {
    span.end();
  }
}

function keyAttribute(key: Buffer | string | null | undefined): Attributes {
  if (key === null || key === undefined) return {};
  return { [ATTR_MESSAGING_KAFKA_MESSAGE_KEY]: key.toString() };
}
