import {
  deadLetterEnvelopeSchema,
  deadLetterHeaders,
  decodeBarMessage,
  encodeBytes,
  type Bar,
  type BarRuleOptions,
  type DeadLetterEnvelope,
} from '@backbone/contracts';
import type { ConsumedMessage, OutgoingMessage } from '@backbone/kafka';
import { InvalidBarError, MessageTooLargeError, type RecordRejection } from './errors.ts';

/** A valid bar and the offset it was read at. */
export interface PlannedBar {
  readonly bar: Bar;
  readonly offset: bigint;
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
    byKey.set(`${bar.symbol}\u0000${bar.timeframe}\u0000${bar.ts}`, { bar, offset: message.offset });
  }
  return {
    bars: [...byKey.values()],
    superseded: valid - byKey.size,
    rejected,
    fenced,
    lastOffset: last.offset,
  };
}

/**
 * The `market.bars.v1.dlq` record for a rejected record: key = the original key, value = the
 * envelope, headers = {@link deadLetterHeaders}. A duplicate (the DLQ is at-least-once) carries
 * the same original topic, partition and offset, which identify it.
 *
 * @example await producer.send(dlqTopic, rejected.map((r) => deadLetterRecord(r, new Date())));
 */
export function deadLetterRecord(rejected: PlannedRejection, firstSeenAt: Date): OutgoingMessage {
  const { message, rejection } = rejected;
  const envelope: DeadLetterEnvelope = deadLetterEnvelopeSchema.parse({
    originalTopic: message.topic,
    partition: message.partition,
    offset: message.offset.toString(),
    key: encodeBytes(message.key),
    errorClass: rejection.name,
    reason: rejection.reason,
    message: rejection.message.slice(0, 4096),
    firstSeenAt: firstSeenAt.toISOString(),
    // An oversize payload would make the dead letter oversize too; it stays readable at its
    // original partition and offset until the topic's retention removes it.
    payload: rejection instanceof MessageTooLargeError ? null : encodeBytes(message.value),
  } satisfies DeadLetterEnvelope);
  return {
    key: message.key,
    value: JSON.stringify(envelope),
    headers: deadLetterHeaders(envelope),
  };
}
