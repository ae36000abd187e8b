import type { TopicPartitionOffset, TopicPartitions } from '@backbone/kafka';
import type { ClientBase, Pool } from 'pg';

/**
 * `backbone.consumer_offsets`: the next offset to read per group, topic and partition. The sink
 * advances it in the transaction that stores the rows, which makes it the truth about what was
 * applied (Kafka's committed group offsets trail it and are only for standard lag tools).
 */

/**
 * The stored next offsets of `groupId` for the given partitions; partitions without a row are
 * absent from the result.
 *
 * @example const positions = await readStoredOffsets(pool, 'stream-bridge', [{ topic, partitions: [0, 1] }]);
 */
export async function readStoredOffsets(
  db: Pool | ClientBase,
  groupId: string,
  partitions: readonly TopicPartitions[],
): Promise<TopicPartitionOffset[]> {
  const topics: string[] = [];
  const numbers: number[] = [];
  for (const { topic, partitions: list } of partitions) {
    for (const partition of list) {
      topics.push(topic);
      numbers.push(partition);
    }
  }
  if (topics.length === 0) return [];
  const result = await db.query<{ topic: string; partition: number; next_offset: string }>(
    `SELECT o.topic, o.partition, o.next_offset::text AS next_offset
     FROM backbone.consumer_offsets o
     JOIN unnest($2::text[], $3::int[]) AS wanted(topic, partition)
       ON wanted.topic = o.topic AND wanted.partition = o.partition
     WHERE o.group_id = $1
     ORDER BY o.topic, o.partition`,
    [groupId, topics, numbers],
  );
  return result.rows.map((row) => ({
    topic: row.topic,
    partition: row.partition,
    offset: BigInt(row.next_offset),
  }));
}

/** A stored next offset and when it last moved. */
export interface StoredOffset extends TopicPartitionOffset {
  /** When the sink last stored this partition's next offset (its last committed progress). */
  readonly updatedAt: Date;
}

/**
 * Every stored next offset of `groupId` on `topics` (for lag and stall detection).
 *
 * @example const positions = await readGroupOffsets(pool, 'stream-bridge', ['market.bars.v1']);
 */
export async function readGroupOffsets(
  db: Pool | ClientBase,
  groupId: string,
  topics: readonly string[],
): Promise<StoredOffset[]> {
  const result = await db.query<{ topic: string; partition: number; next_offset: string; updated_at: Date }>(
    `SELECT topic, partition, next_offset::text AS next_offset, updated_at
     FROM backbone.consumer_offsets WHERE group_id = $1 AND topic = ANY($2::text[])
     ORDER BY topic, partition`,
    [groupId, [...topics]],
  );
  return result.rows.map((row) => ({
    topic: row.topic,
    partition: row.partition,
    offset: BigInt(row.next_offset),
    updatedAt: row.updated_at,
  }));
}

/**
 * Locks the partition's offset row for the rest of the caller's transaction (creating it at 0
 * when absent) and returns its next offset. Whoever holds the lock is the only writer of this
 * partition until commit: a second consumer (after a rebalance, or a zombie) waits here and then
 * sees the advanced offset, so it skips what was applied instead of applying it twice.
 *
 * @example const fromOffset = await lockNextOffset(client, groupId, topic, partition);
 */
export async function lockNextOffset(
  client: ClientBase,
  groupId: string,
  topic: string,
  partition: number,
): Promise<bigint> {
  await client.query(
    `INSERT INTO backbone.consumer_offsets (group_id, topic, partition, next_offset)
     VALUES ($1, $2, $3, 0) ON CONFLICT (group_id, topic, partition) DO NOTHING`,
    [groupId, topic, partition],
  );
  const result = await client.query<{ next_offset: string }>(
    `SELECT next_offset::text AS next_offset FROM backbone.consumer_offsets
     WHERE group_id = $1 AND topic = $2 AND partition = $3 FOR UPDATE`,
    [groupId, topic, partition],
  );
  const row = result.rows[0];
  if (row === undefined) throw new Error(`consumer_offsets row for ${topic}/${partition} vanished`);
  return BigInt(row.next_offset);
}

/**
 * Sets the partition's next offset in the caller's transaction (after {@link lockNextOffset}).
 *
 * @example await storeNextOffset(client, groupId, topic, partition, plan.lastOffset + 1n);
 */
export async function storeNextOffset(
  client: ClientBase,
  groupId: string,
  topic: string,
  partition: number,
  nextOffset: bigint,
): Promise<void> {
  await client.query(
    `UPDATE backbone.consumer_offsets SET next_offset = $4, updated_at = now()
     WHERE group_id = $1 AND topic = $2 AND partition = $3`,
    [groupId, topic, partition, nextOffset.toString()],
  );
}

/**
 * Every stored next offset of every group (for `./backbone offsets show`).
 *
 * @example const all = await readAllStoredOffsets(pool);
 */
export async function readAllStoredOffsets(
  db: Pool | ClientBase,
): Promise<(TopicPartitionOffset & { groupId: string; updatedAt: Date })[]> {
  const result = await db.query<{
    group_id: string;
    topic: string;
    partition: number;
    next_offset: string;
    updated_at: Date;
  }>(
    `SELECT group_id, topic, partition, next_offset::text AS next_offset, updated_at
     FROM backbone.consumer_offsets ORDER BY group_id, topic, partition`,
  );
  return result.rows.map((row) => ({
    groupId: row.group_id,
    topic: row.topic,
    partition: row.partition,
    offset: BigInt(row.next_offset),
    updatedAt: row.updated_at,
  }));
}
