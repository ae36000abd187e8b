import type { ConsumedMessage, KafkaClient } from '@backbone/kafka';
import { uniqueName, waitFor } from '@backbone/testing';

/**
 * Reads every record of `topic` from the beginning with a throwaway group until `count` records
 * arrived (and fails after `timeoutMs`). Also checks the log end offsets say exactly `count`.
 */
export async function readTopic(
  client: KafkaClient,
  topic: string,
  count: number,
  timeoutMs = 20_000,
): Promise<ConsumedMessage[]> {
  const messages: ConsumedMessage[] = [];
  if (count === 0) return messages;
  const consumer = client.consumer({ groupId: uniqueName('reader') });
  try {
    await consumer.connect();
    await consumer.subscribe([topic], { fromBeginning: true });
    await consumer.run({
      eachBatch: (batch) => {
        messages.push(...batch.messages);
        const last = batch.messages.at(-1);
        if (last !== undefined) batch.resolveOffset(last.offset);
        return Promise.resolve();
      },
    });
    await waitFor(() => messages.length >= count, { timeoutMs, description: `${count} records on ${topic}` });
    return messages;
  } finally {
    await consumer.close();
  }
}

/** Number of records in a topic (sum over partitions of high − low). */
export async function recordCount(
  client: { fetchTopicOffsets(topic: string): Promise<{ low: bigint; high: bigint }[]> },
  topic: string,
): Promise<number> {
  const offsets = await client.fetchTopicOffsets(topic);
  return offsets.reduce((sum, { low, high }) => sum + Number(high - low), 0);
}
