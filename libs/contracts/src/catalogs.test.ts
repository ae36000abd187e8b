import { describe, expect, expectTypeOf, it } from 'vitest';
import type { Bar } from './bar.ts';
import type { DeadLetterEnvelope } from './dead-letter.ts';
import type { IngestRunEvent } from './ingest-run-event.ts';
import { JOBS, QUEUES, jobQueue, parseJobPayload, queueCatalog } from './jobs.ts';
import type {
  JobName,
  JobPayload,
  JobPayloadInput,
  QueueName,
  RunPlanJob,
  WarmAllJob,
  WarmSymbolJob,
} from './jobs.ts';
import type { ReadinessSnapshot } from './readiness-snapshot.ts';
import { TOPICS, decodeTopicMessage, topicCatalog } from './topics.ts';
import type { TopicName, TopicValue } from './topics.ts';
import { UnknownJobError } from './unknown-job-error.ts';

describe('topicCatalog', () => {
  it('has exactly the four fixed topics', () => {
    expect(Object.keys(topicCatalog).sort()).toEqual(
      ['backbone.ingest-events.v1', 'backbone.readiness.v1', 'market.bars.v1', 'market.bars.v1.dlq'].sort(),
    );
    expect(Object.values(TOPICS).sort()).toEqual(Object.keys(topicCatalog).sort());
    for (const contract of Object.values(topicCatalog)) expect(contract.key).not.toBe('');
  });

  it('types every topic value', () => {
    expectTypeOf<TopicName>().toEqualTypeOf<
      'market.bars.v1' | 'market.bars.v1.dlq' | 'backbone.ingest-events.v1' | 'backbone.readiness.v1'
    >();
    expectTypeOf<keyof typeof topicCatalog>().toEqualTypeOf<TopicName>();
    expectTypeOf<TopicValue<'market.bars.v1'>>().toEqualTypeOf<Bar>();
    expectTypeOf<TopicValue<'market.bars.v1.dlq'>>().toEqualTypeOf<DeadLetterEnvelope>();
    expectTypeOf<TopicValue<'backbone.ingest-events.v1'>>().toEqualTypeOf<IngestRunEvent>();
    expectTypeOf<TopicValue<'backbone.readiness.v1'>>().toEqualTypeOf<ReadinessSnapshot>();
  });

  it('rejects a catalog that misses a topic at compile time', () => {
    // @ts-expect-error market.bars.v1.dlq, backbone.ingest-events.v1 and backbone.readiness.v1 are missing
    const partial: Record<TopicName, unknown> = { [TOPICS.marketBars]: topicCatalog[TOPICS.marketBars] };
    expect(Object.keys(partial)).toHaveLength(1);
  });
});

describe('decodeTopicMessage', () => {
  it('decodes a readiness snapshot and rejects garbage as not_json or shape_invalid', () => {
    const snapshot = {
      id: '0b8a4e0e-4a6f-4a8e-9a53-2a4c1c0f5d11',
      generatedAt: '2026-11-26T17:30:00+02:00',
      status: 'ok',
      components: [],
    };
    const decoded = decodeTopicMessage(TOPICS.readiness, Buffer.from(JSON.stringify(snapshot)));
    expect(decoded.ok && decoded.value.generatedAt).toBe('2026-11-26T15:30:00.000Z');
    expect(decodeTopicMessage(TOPICS.readiness, Buffer.from('{'))).toMatchObject({ reason: 'not_json' });
    expect(decodeTopicMessage(TOPICS.readiness, null)).toMatchObject({ reason: 'not_json' });
    expect(decodeTopicMessage(TOPICS.readiness, Buffer.from('{"status":"maybe"}'))).toMatchObject({
      ok: false,
      reason: 'shape_invalid',
    });
  });
});

describe('queueCatalog', () => {
  it('maps each queue to exactly its jobs', () => {
    expect(Object.keys(queueCatalog).sort()).toEqual(['cache-warm', 'ingest']);
    expect(Object.keys(queueCatalog.ingest)).toEqual(['run-plan']);
    expect(Object.keys(queueCatalog['cache-warm']).sort()).toEqual(['warm-all', 'warm-symbol']);
    for (const [job, queue] of Object.entries(jobQueue)) {
      expect(Object.keys(queueCatalog[queue])).toContain(job);
    }
    expect(Object.values(JOBS).sort()).toEqual(Object.keys(jobQueue).sort());
  });

  it('types queues, job names and payloads', () => {
    expectTypeOf<QueueName>().toEqualTypeOf<'ingest' | 'cache-warm'>();
    expectTypeOf<JobName<'ingest'>>().toEqualTypeOf<'run-plan'>();
    expectTypeOf<JobName<'cache-warm'>>().toEqualTypeOf<'warm-symbol' | 'warm-all'>();
    expectTypeOf<JobPayload<'ingest', 'run-plan'>>().toEqualTypeOf<RunPlanJob>();
    expectTypeOf<JobPayload<'cache-warm', 'warm-symbol'>>().toEqualTypeOf<WarmSymbolJob>();
    expectTypeOf<JobPayload<'cache-warm', 'warm-all'>>().toEqualTypeOf<WarmAllJob>();
    expectTypeOf<JobPayloadInput<'cache-warm', 'warm-symbol'>['symbol']>().toEqualTypeOf<string>();
    // @ts-expect-error run-plan is not a cache-warm job
    expectTypeOf<JobPayload<'cache-warm', 'run-plan'>>().toBeObject();
  });

  it('parses job data and normalises it', () => {
    const payload = parseJobPayload(QUEUES.cacheWarm, JOBS.warmSymbol, {
      dataset: 'bars',
      symbol: 'eurusd',
      timeframe: '1m',
    });
    expect(payload).toEqual({ dataset: 'bars', symbol: 'EURUSD', timeframe: '1m' });
    expect(parseJobPayload(QUEUES.ingest, JOBS.runPlan, { planName: 'fx-1m', reason: 'manual' })).toEqual({
      planName: 'fx-1m',
      reason: 'manual',
    });
  });

  it('rejects bad job data naming the field, and an unknown job name', () => {
    expect(() => parseJobPayload(QUEUES.ingest, JOBS.runPlan, { planName: 'fx', reason: 'whim' })).toThrow(
      /reason/,
    );
    expect(() => parseJobPayload(QUEUES.cacheWarm, JOBS.warmAll, { reason: 'startup', extra: 1 })).toThrow(
      /extra/,
    );
    const unknownJob = 'run-plan' as JobName<'cache-warm'>;
    expect(() => parseJobPayload(QUEUES.cacheWarm, unknownJob, {})).toThrow(UnknownJobError);
  });
});
