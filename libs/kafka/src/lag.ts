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
   * which is the truth). When given, it is the whole truth: a partition missing here has had
   * nothing applied, and its consumer reads it from the start, whatever offset the group has in
   * Kafka (e.g. after a database restore). Without it, the group's offsets in Kafka are used.
   */
  readonly committedOffsets?: readonly TopicPartitionOffset[];
}

/**
 * Per-partition lag of a consumer group: log end offsets from the brokers against the group's next
 * offsets, from the caller's store when it has one, else from Kafka's committed group offsets.
 *
 * @example const lag = await consumerLag({ admin, groupId: 'stream-bridge', topics: ['market.bars.v1'], committedOffsets: fromDb });
 */
export async function consumerLag(input: ConsumerLagInput): Promise<PartitionLag[]> {
  const { admin, groupId, topics } = input;
  const source: NextOffsetSource = input.committedOffsets === undefined ? 'kafka' : 'caller';
  const positions = input.committedOffsets ?? (await admin.fetchGroupOffsets(groupId, topics));
  const nextOffsets = new Map(
    positions.map((position) => [partitionKey(position.topic, position.partition), position.offset]),
  );
  const lags: PartitionLag[] = [];
  for (const topic of topics) {
    for (const { partition, low, high } of await admin.fetchTopicOffsets(topic)) {
      const nextOffset = nextOffsets.get(partitionKey(topic, partition)) ?? null;
      const lag = high - (nextOffset ?? low);
      lags.push({
        groupId,
        topic,
        partition,
        logEndOffset: high,
        nextOffset,
        lag: lag > 0n ? lag : 0n,
        source: nextOffset === null ? 'none' : source,
      });
    }
  }
  return lags;
}

/**
 * One string per topic-partition, for Map and Set keys (NUL cannot appear in a topic name).
 *
 * @example new Set(assigned.map(({ topic, partition }) => partitionKey(topic, partition)))
 */
export function partitionKey(topic: string, partition: number): string {
  return `${topic}\u0000${partition}`;
}
