import type { z } from 'zod';
import { barSchema } from './bar.ts';
import { deadLetterEnvelopeSchema } from './dead-letter.ts';
import { ingestRunEventSchema } from './ingest-run-event.ts';
import { readinessSnapshotSchema } from './readiness-snapshot.ts';

/** Kafka topic names. A new contract version is a new topic (`.v2`), never a silent change. */
export const TOPICS = {
  marketBars: 'market.bars.v1',
  marketBarsDlq: 'market.bars.v1.dlq',
  ingestEvents: 'backbone.ingest-events.v1',
  readiness: 'backbone.readiness.v1',
} as const;
export type TopicName = (typeof TOPICS)[keyof typeof TOPICS];

export interface TopicContract {
  /** Schema of the message value (UTF-8 JSON). */
  value: z.ZodType;
  /** What the message key holds. */
  key: string;
}

/**
 * Topic → value schema and key. A topic without a contract is a compile error.
 *
 * @example topicCatalog[TOPICS.ingestEvents].value.parse(unvalidatedEvent)
 */
export const topicCatalog = {
  [TOPICS.marketBars]: {
    value: barSchema,
    key: 'symbol (UTF-8), the same as value.symbol, so one symbol stays in order on one partition',
  },
  [TOPICS.marketBarsDlq]: { value: deadLetterEnvelopeSchema, key: 'the original message key, unchanged' },
  [TOPICS.ingestEvents]: { value: ingestRunEventSchema, key: 'runId (UTF-8)' },
  [TOPICS.readiness]: { value: readinessSnapshotSchema, key: 'snapshot id (UTF-8)' },
} as const satisfies Record<TopicName, TopicContract>;

/** The validated value type of topic `T`. */
export type TopicValue<T extends TopicName> = z.output<(typeof topicCatalog)[T]['value']>;

export type TopicDecodeResult<T extends TopicName> =
  | { ok: true; value: TopicValue<T> }
  | { ok: false; reason: 'not_json' | 'shape_invalid'; message: string; path: string };

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Decodes and validates a message value of any catalogued topic. For `market.bars.v1` prefer
 * `decodeBarMessage`, which names the broken bar rule instead of `shape_invalid`.
 *
 * @example const decoded = decodeTopicMessage(TOPICS.ingestEvents, message.value);
 */
export function decodeTopicMessage<T extends TopicName>(
  topic: T,
  value: Buffer | null,
): TopicDecodeResult<T> {
  if (value === null)
    return { ok: false, reason: 'not_json', message: 'value: empty (tombstone) message', path: '' };
  let unvalidated: unknown;
  try {
    unvalidated = JSON.parse(utf8.decode(value));
  } catch {
    return { ok: false, reason: 'not_json', message: 'value: not UTF-8 JSON', path: '' };
  }
  const schema: z.ZodType = topicCatalog[topic].value;
  const parsed = schema.safeParse(unvalidated);
  if (parsed.success) return { ok: true, value: parsed.data as TopicValue<T> };
  const [issue] = parsed.error.issues;
  const path = issue?.path.map(String).join('.') ?? '';
  return {
    ok: false,
    reason: 'shape_invalid',
    message: `${path === '' ? 'value' : path}: ${issue?.message ?? 'invalid'}`,
    path,
  };
}
