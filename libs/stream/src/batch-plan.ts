import { isUtf8 } from 'node:buffer';
import { createHash } from 'node:crypto';
import {
  deadLetterEnvelopeSchema,
  deadLetterHeaders,
  decodeBarMessage,
  encodeBytes,
  type Bar,
  type BarRuleOptions,
  type DeadLetterEnvelope,
} from '@backbone/contracts';
import type { RejectedRecord } from '@backbone/db';
import type { ConsumedMessage, OutgoingMessage } from '@backbone/kafka';
import { InvalidBarError, MessageTooLargeError, type RecordRejection } from './errors.ts';

/** A valid bar and the record it was read from. */
export interface PlannedBar {
  readonly bar: Bar;
  readonly offset: bigint;
  /** Dead-lettered from this record if the database refuses the bar. */
  readonly message: ConsumedMessage;
}

/** A record that goes to the dead-letter topic, and why. */
export interface PlannedRejection {
  readonly message: ConsumedMessage;
  readonly rejection: RecordRejection;
}

/** What one slice of a partition's records turns into. */
export interface BatchPlan {
  /** Valid bars, one per (symbol, timeframe, ts): the highest offset wins. */
  readonly bars: readonly PlannedBar[];
  /** Valid bars dropped because a later record in the slice had the same key. */
  readonly superseded: number;
  readonly rejected: readonly PlannedRejection[];
  /** Records below `fromOffset`: already applied by an earlier transaction, skipped. */
  readonly fenced: number;
  /** Offset of the last record of the slice (applied or fenced); the stored next offset is this + 1. */
  readonly lastOffset: bigint;
}

export interface PlanOptions {
  /** The partition's stored next offset: records below it were applied before and are skipped. */
  readonly fromOffset: bigint;
  /** Records (key + value) above this many bytes are rejected as `message_too_large`. */
  readonly maxMessageBytes: number;
  /** The bar rules' clock and future skew; the same object on every call (its schema is cached). */
  readonly rules?: BarRuleOptions | undefined;
}

/**
 * Validates and de-duplicates one slice of a partition's records (offset order). Pure: the
 * decision for every record is made here, the sink only executes it.
 *
 * @example const plan = planBatch(batch.messages, { fromOffset: 42n, maxMessageBytes: 1_048_576 });
 */
export function planBatch(messages: readonly ConsumedMessage[], options: PlanOptions): BatchPlan {
  const last = messages.at(-1);
  if (last === undefined) throw new RangeError('planBatch needs at least one record');
  const byKey = new Map<string, PlannedBar>();
  const rejected: PlannedRejection[] = [];
  let fenced = 0;
  let valid = 0;
  for (const message of messages) {
    if (message.offset < options.fromOffset) {
      fenced += 1;
      continue;
    }
    const size = (message.key?.length ?? 0) + (message.value?.length ?? 0);
    if (size > options.maxMessageBytes) {
      rejected.push({ message, rejection: new MessageTooLargeError(size, options.maxMessageBytes) });
      continue;
    }
    const decoded = decodeBarMessage(message.value, options.rules);
    if (!decoded.ok) {
      rejected.push({ message, rejection: new InvalidBarError(decoded.reason, decoded.message) });
      continue;
    }
    valid += 1;
    // Records arrive in offset order, so a later set() is the higher offset: last one wins.
    const { bar } = decoded;
    byKey.set(`${bar.symbol}\u0000${bar.timeframe}\u0000${bar.ts}`, { bar, offset: message.offset, message });
  }
  return {
    bars: [...byKey.values()],
    superseded: valid - byKey.size,
    rejected,
    fenced,
    lastOffset: last.offset,
  };
}

/** A dead letter ready to send, and what must be stored with it. */
export interface DeadLetter {
  /** Offset of the rejected record (identifies the dead letter across attempts). */
  readonly offset: bigint;
  readonly record: OutgoingMessage;
  /**
   * The whole rejected record when the envelope carries only a prefix of its payload; it goes to
   * `backbone.rejected_records` in the slice's transaction.
   */
  readonly wholeRecord: RejectedRecord | undefined;
  /** What the record takes of a produce batch: key, value, headers and Kafka's per-record overhead. */
  readonly batchBytes: number;
}

/**
 * Kafka's `max.message.bytes` bounds a whole record batch: a 61-byte batch header, and per
 * record a few varints (lengths, deltas) besides its key, value and headers. Generous margins:
 * the cost of a margin is a slightly shorter prefix, the cost of too little is a stuck partition.
 */
const BATCH_OVERHEAD_BYTES = 128;
const RECORD_OVERHEAD_BYTES = 128;

/**
 * The `market.bars.v1.dlq` record for a rejected record: key = the original key, value = the
 * envelope, headers = {@link deadLetterHeaders}. A duplicate (the DLQ is at-least-once) carries
 * the same original topic, partition and offset, which identify it.
 *
 * When the envelope with the whole payload would not fit a batch of `maxBatchBytes` (the DLQ
 * topic's `max.message.bytes`), it carries the longest prefix that fits, with
 * `payloadTruncated`, `payloadBytes` and `payloadSha256`, and the whole record is returned as
 * `wholeRecord` for `backbone.rejected_records`: the send can no longer fail on the record's size.
 *
 * @example const letters = rejected.map((r) => deadLetterFor(r, new Date(), 1_048_576));
 */
export function deadLetterFor(
  rejected: PlannedRejection,
  firstSeenAt: Date,
  maxBatchBytes: number,
): DeadLetter {
  const { message, rejection } = rejected;
  const common = {
    originalTopic: message.topic,
    partition: message.partition,
    offset: message.offset.toString(),
    key: encodeBytes(message.key),
    errorClass: rejection.name,
    reason: rejection.reason,
    message: rejection.message.slice(0, 4096),
    firstSeenAt: firstSeenAt.toISOString(),
  };
  const headers = deadLetterHeaders(deadLetterEnvelopeSchema.parse({ ...common, payload: null }));
  const fixedBytes =
    RECORD_OVERHEAD_BYTES +
    (message.key?.length ?? 0) +
    Object.entries(headers).reduce((sum, [name, value]) => sum + byteLength(name) + byteLength(value), 0);
  const maxValueBytes = maxBatchBytes - BATCH_OVERHEAD_BYTES - fixedBytes;
  const letter = (envelope: DeadLetterEnvelope, wholeRecord: RejectedRecord | undefined): DeadLetter => {
    const value = JSON.stringify(deadLetterEnvelopeSchema.parse(envelope));
    return {
      offset: message.offset,
      record: { key: message.key, value, headers },
      wholeRecord,
      batchBytes: fixedBytes + byteLength(value),
    };
  };
  const whole = letter({ ...common, payload: encodeBytes(message.value) }, undefined);
  if (whole.batchBytes - fixedBytes <= maxValueBytes || message.value === null) return whole;

  const value = message.value;
  const payloadSha256 = createHash('sha256').update(value).digest('hex');
  const truncated = (prefixBytes: number): DeadLetterEnvelope => ({
    ...common,
    payload: encodeBytes(value.subarray(0, prefixBytes)),
    payloadTruncated: true,
    payloadBytes: value.length,
    payloadSha256,
  });
  // A prefix of valid UTF-8 cut on a character boundary stays UTF-8 (readable in the envelope);
  // anything else is base64, 4/3 of its size.
  const utf8 = isUtf8(value);
  const emptyBytes = byteLength(JSON.stringify(truncated(0)));
  let prefixBytes = Math.max(0, Math.floor((maxValueBytes - emptyBytes) * (utf8 ? 1 : 0.75)));
  for (;;) {
    if (utf8) while (prefixBytes > 0 && ((value[prefixBytes] ?? 0) & 0xc0) === 0x80) prefixBytes -= 1;
    const size = byteLength(JSON.stringify(truncated(prefixBytes)));
    // JSON escapes only ever grow a prefix, so cutting the overshoot converges in a few rounds.
    if (size <= maxValueBytes || prefixBytes === 0) break;
    prefixBytes = Math.max(0, prefixBytes - (size - maxValueBytes));
  }
  return letter(truncated(prefixBytes), {
    topic: message.topic,
    partition: message.partition,
    offset: message.offset,
    key: message.key,
    payload: value,
    payloadSha256,
    errorClass: rejection.name,
    reason: rejection.reason,
    message: common.message,
  });
}

/**
 * Groups dead letters into sends whose record batch stays under `maxBatchBytes` (the DLQ topic's
 * `max.message.bytes`), in order. A letter from {@link deadLetterFor} always fits alone.
 *
 * @example for (const send of deadLetterSends(letters, 1_048_576)) await producer.send(dlq, send.map((l) => l.record));
 */
export function deadLetterSends(letters: readonly DeadLetter[], maxBatchBytes: number): DeadLetter[][] {
  const sends: DeadLetter[][] = [];
  let current: DeadLetter[] = [];
  let currentBytes = BATCH_OVERHEAD_BYTES;
  for (const letter of letters) {
    if (current.length > 0 && currentBytes + letter.batchBytes > maxBatchBytes) {
      sends.push(current);
      current = [];
      currentBytes = BATCH_OVERHEAD_BYTES;
    }
    current.push(letter);
    currentBytes += letter.batchBytes;
  }
  if (current.length > 0) sends.push(current);
  return sends;
}

function byteLength(value: string | Buffer | null): number {
  if (value === null) return 0;
  return typeof value === 'string' ? Buffer.byteLength(value) : value.length;
}
