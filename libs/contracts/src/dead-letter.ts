import { isUtf8 } from 'node:buffer';
import { z } from 'zod';
import { reasonCodeSchema, utcTimestampSchema } from './primitives.ts';

/** Bytes carried as UTF-8 text when they are valid UTF-8, base64 otherwise; null for an absent key/value. */
export const encodedBytesSchema = z
  .strictObject({ encoding: z.enum(['utf8', 'base64']), data: z.string() })
  .nullable();
export type EncodedBytes = z.output<typeof encodedBytesSchema>;

/**
 * Encodes Kafka key or value bytes for an envelope, losslessly.
 *
 * @example encodeBytes(Buffer.from('EURUSD')) // { encoding: 'utf8', data: 'EURUSD' }
 */
export function encodeBytes(bytes: Buffer | null): EncodedBytes {
  if (bytes === null) return null;
  return isUtf8(bytes)
    ? { encoding: 'utf8', data: bytes.toString('utf8') }
    : { encoding: 'base64', data: bytes.toString('base64') };
}

/** The original bytes of an {@link encodeBytes} result. */
export function decodeBytes(encoded: EncodedBytes): Buffer | null {
  if (encoded === null) return null;
  return Buffer.from(encoded.data, encoded.encoding);
}

/**
 * Dead-letter envelope, value of `market.bars.v1.dlq` (key = original key). Everything needed to
 * find, understand and replay the rejected record.
 *
 * @example deadLetterEnvelopeSchema.parse(JSON.parse(message.value.toString('utf8'))).reason
 */
export const deadLetterEnvelopeSchema = z
  .strictObject({
    originalTopic: z.string().min(1).max(249),
    partition: z.int().nonnegative(),
    offset: z.string().regex(/^\d+$/).meta({ description: 'Kafka offset as a decimal string (int64).' }),
    key: encodedBytesSchema,
    errorClass: z
      .string()
      .regex(/^[A-Za-z][A-Za-z0-9_]{0,127}$/)
      .meta({ description: 'Name of the error class that rejected the record.' }),
    reason: reasonCodeSchema.meta({ description: 'Stable reason code, e.g. a bar reject reason.' }),
    message: z.string().max(4096),
    firstSeenAt: utcTimestampSchema,
    payload: encodedBytesSchema.meta({
      description: 'The record value; only its first bytes when payloadTruncated.',
    }),
    payloadTruncated: z
      .literal(true)
      .optional()
      .meta({
        description:
          'Present when the envelope with the whole value would not fit the dead-letter topic: ' +
          'payload holds a prefix, the whole record is in backbone.rejected_records at the same ' +
          'originalTopic, partition and offset.',
      }),
    payloadBytes: z
      .int()
      .nonnegative()
      .optional()
      .meta({ description: 'Size of the whole value in bytes (with payloadTruncated).' }),
    payloadSha256: z
      .string()
      .regex(/^[0-9a-f]{64}$/)
      .optional()
      .meta({ description: 'SHA-256 (hex) of the whole value (with payloadTruncated).' }),
  })
  .meta({ title: 'Dead-letter envelope v1', description: 'A record that could not be stored, with why.' });
export type DeadLetterEnvelope = z.output<typeof deadLetterEnvelopeSchema>;

/**
 * Kafka header names on every dead-lettered message (values UTF-8), so consumers and tools can
 * filter by reason without parsing the envelope.
 */
export const DEAD_LETTER_HEADERS = {
  originalTopic: 'x-dlq-original-topic',
  originalPartition: 'x-dlq-original-partition',
  originalOffset: 'x-dlq-original-offset',
  errorClass: 'x-dlq-error-class',
  reason: 'x-dlq-reason',
  firstSeenAt: 'x-dlq-first-seen-at',
} as const;

/**
 * The headers for an envelope.
 *
 * @example producer.send({ topic, messages: [{ key, value, headers: deadLetterHeaders(envelope) }] })
 */
export function deadLetterHeaders(envelope: DeadLetterEnvelope): Record<string, string> {
  return {
    [DEAD_LETTER_HEADERS.originalTopic]: envelope.originalTopic,
    [DEAD_LETTER_HEADERS.originalPartition]: String(envelope.partition),
    [DEAD_LETTER_HEADERS.originalOffset]: envelope.offset,
    [DEAD_LETTER_HEADERS.errorClass]: envelope.errorClass,
    [DEAD_LETTER_HEADERS.reason]: envelope.reason,
    [DEAD_LETTER_HEADERS.firstSeenAt]: envelope.firstSeenAt,
  };
}
