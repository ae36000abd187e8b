import type { AdminPort, TopicPartitionOffset } from './port.ts';

/** Where a partition's next offset came from. */
export type NextOffsetSource = 'caller' | 'kafka' | 'none';

/** Lag of one consumer group on one partition. */
export interface PartitionLag {
  readonly groupId: string;
  readonly topic: string;
  readonly partition: number;
  /** The offset the next appended record gets. */
  readonly logEndOffset: bigint;
  /** The next offset the group will read; `null` when it has consumed nothing from this partition. */
  readonly nextOffset: bigint | null;
  /**
   * Records appended but not yet consumed: `logEndOffset − nextOffset`, or, for a partition the
   * group never consumed, every retained record (`logEndOffset − logStartOffset`), because the
   * stream-bridge reads a new partition from its beginning. Never negative.
   */
  readonly lag: bigint;
  readonly source: NextOffsetSource;
}

export interface ConsumerLagInput {
  readonly admin: AdminPort;
  readonly groupId: string;
  readonly topics: readonly string[];
  /**
   * Next offsets from the consumer's own store (the stream-bridge passes `backbone.consumer_offsets`,
   * which is the truth). Partitions missing here fall back to the group's offsets in Kafka.
   */
  readonly committedOffsets?: readonly TopicPartitionOffset[];
}

/**
 * Per-partition lag of a consumer group: log end offsets from the brokers against the group's next
 * offsets, preferring the caller's source over Kafka's committed group offsets.
 *
 * @example const lag = await consumerLag({ admin, groupId: 'stream-bridge', topics: ['market.bars.v1'], committedOffsets: fromDb });
 */
export async function consumerLag(input: ConsumerLagInput): Promise<PartitionLag[]> {
  const { admin, groupId, topics } = input;
  const fromCaller = new Map(
    (input.committedOffsets ?? []).map((position) => [
      key(position.topic, position.partition),
      position.offset,
    ]),
  );
  const fromKafka = new Map(
    (await admin.fetchGroupOffsets(groupId, topics)).map((position) => [
      key(position.topic, position.partition),
      position.offset,
    ]),
  );
  const lags: PartitionLag[] = [];
  for (const topic of topics) {
    for (const { partition, low, high } of await admin.fetchTopicOffsets(topic)) {
      const callerOffset = fromCaller.get(key(topic, partition));
      const kafkaOffset = fromKafka.get(key(topic, partition)) ?? null;
      const nextOffset = callerOffset ?? kafkaOffset;
      const source: NextOffsetSource =
        callerOffset !== undefined ? 'caller' : kafkaOffset !== null ? 'kafka' : 'none';
      const lag = high - (nextOffset ?? low);
      lags.push({
        groupId,
        topic,
        partition,
        logEndOffset: high,
        nextOffset,
        lag: lag > 0n ? lag : 0n,
        source,
      });
    }
  }
  return lags;
}

function key(topic: string, partition: number): string {
  return `${topic}\u0000${partition}`;
}
