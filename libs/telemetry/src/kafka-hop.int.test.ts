import { SpanKind, trace } from '@opentelemetry/api';
import { Kafka, logLevel, type Admin, type Consumer, type Producer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { endpoints } from './test-support/endpoints.ts';
import { uniqueName, waitFor } from '@backbone/testing';
import {
  injectKafkaHeaders,
  runInSpan,
  startKafkaConsumerSpan,
  startKafkaProducerSpan,
} from './propagation.ts';
import { startInMemoryTracing, type InMemoryTracing } from './test-support/in-memory-tracing.ts';

describe('trace context across a real Kafka hop', () => {
  const topic = uniqueName('telemetry_hop');
  const groupId = uniqueName('telemetry_group');
  let tracing: InMemoryTracing;
  let admin: Admin;
  let producer: Producer;
  let consumer: Consumer;
  const activeSpanIdsInHandler = new Map<string, string | undefined>();

  beforeAll(async () => {
    tracing = startInMemoryTracing();
    const kafka = new Kafka({
      clientId: 'telemetry-test',
      brokers: endpoints().kafkaBrokers,
      logLevel: logLevel.ERROR,
    });
    admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true });
    producer = kafka.producer();
    await producer.connect();
    consumer = kafka.consumer({ groupId });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ topic: consumedTopic, partition, message }) => {
        const span = startKafkaConsumerSpan({
          topic: consumedTopic,
          partition,
          message,
          groupId,
          tracer: tracing.tracer,
        });
        await runInSpan(span, () => {
          // The handler runs with the consumer span active, so its own spans and log lines join the trace.
          activeSpanIdsInHandler.set(
            message.value?.toString() ?? '',
            trace.getActiveSpan()?.spanContext().spanId,
          );
        });
      },
    });
  });

  afterAll(async () => {
    await consumer.disconnect();
    await producer.disconnect();
    await admin.deleteTopics({ topics: [topic] });
    await admin.disconnect();
    await tracing.stop();
  });

  it('makes the consumer span a child of the producer span, in the same trace', async () => {
    const producerSpan = startKafkaProducerSpan({ topic, key: 'EURUSD', tracer: tracing.tracer });
    await runInSpan(producerSpan, () =>
      producer.send({ topic, messages: [{ key: 'EURUSD', value: 'traced', headers: injectKafkaHeaders() }] }),
    );

    const consumerSpan = await waitFor(
      () =>
        tracing
          .finishedSpans()
          .find(
            (span) => span.name === `process ${topic}` && span.attributes['messaging.kafka.offset'] === 0,
          ),
      { description: 'the consumer span of the traced message', timeoutMs: 20_000 },
    );
    const sent = tracing.span(`send ${topic}`);

    expect(sent.kind).toBe(SpanKind.PRODUCER);
    expect(sent.attributes).toMatchObject({
      'messaging.system': 'kafka',
      'messaging.operation.type': 'send',
      'messaging.destination.name': topic,
      'messaging.kafka.message.key': 'EURUSD',
    });

    expect(consumerSpan.kind).toBe(SpanKind.CONSUMER);
    expect(consumerSpan.spanContext().traceId).toBe(sent.spanContext().traceId);
    expect(consumerSpan.parentSpanContext?.spanId).toBe(sent.spanContext().spanId);
    expect(consumerSpan.parentSpanContext?.isRemote).toBe(true);
    expect(consumerSpan.attributes).toEqual({
      'messaging.system': 'kafka',
      'messaging.operation.type': 'process',
      'messaging.operation.name': 'process',
      'messaging.destination.name': topic,
      'messaging.destination.partition.id': '0',
      'messaging.kafka.offset': 0,
      'messaging.kafka.message.key': 'EURUSD',
      'messaging.consumer.group.name': groupId,
    });
    expect(activeSpanIdsInHandler.get('traced')).toBe(consumerSpan.spanContext().spanId);
  });

  it('starts a new trace for a message that carries no trace context', async () => {
    await producer.send({ topic, messages: [{ key: 'GBPUSD', value: 'untraced' }] });

    const consumerSpan = await waitFor(
      () =>
        tracing.finishedSpans().find((span) => span.attributes['messaging.kafka.message.key'] === 'GBPUSD'),
      { description: 'the consumer span of the untraced message', timeoutMs: 20_000 },
    );
    expect(consumerSpan.parentSpanContext).toBeUndefined();
    expect(consumerSpan.attributes['messaging.kafka.offset']).toBe(1);
    const producerTraceIds = tracing
      .finishedSpans()
      .filter((span) => span.kind === SpanKind.PRODUCER)
      .map((span) => span.spanContext().traceId);
    expect(producerTraceIds).not.toContain(consumerSpan.spanContext().traceId);
  });
});
