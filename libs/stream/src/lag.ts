import { metrics, type Meter, type ObservableGauge } from '@opentelemetry/api';
import { consumerLag, partitionKey, type AdminPort, type PartitionLag } from '@backbone/kafka';
import type { Logger } from '@backbone/telemetry';
import type { Pool } from 'pg';
import { readGroupOffsets } from './offset-store.ts';

/** What lag is measured for. */
export interface StreamLagInput {
  readonly admin: AdminPort;
  readonly pool: Pool;
  readonly groupId: string;
  readonly topics: readonly string[];
}

/**
 * Per-partition lag of a sink group: log end offset − the next offset stored in
 * `backbone.consumer_offsets` (the truth), Kafka's committed offsets only where the database has
 * no row. For the readiness-reporter and the gauge below.
 *
 * @example const lags = await streamLag({ admin, pool, groupId: 'stream-bridge', topics: ['market.bars.v1'] });
 */
export async function streamLag(input: StreamLagInput): Promise<PartitionLag[]> {
  const committedOffsets = await readGroupOffsets(input.pool, input.groupId, input.topics);
  return consumerLag({ admin: input.admin, groupId: input.groupId, topics: input.topics, committedOffsets });
}

/** A partition whose records wait while its sink stores no progress. */
export interface StalledPartition {
  readonly groupId: string;
  readonly topic: string;
  readonly partition: number;
  /** Records appended but not applied. */
  readonly lag: bigint;
  /** The oldest record not applied: the one the sink is stuck before. */
  readonly firstPendingOffset: bigint;
  /** When the stored next offset last moved; `null` when the sink never stored one here. */
  readonly lastProgressAt: Date | null;
}

/**
 * Partitions with lag where the sink has stored no progress for `stalledAfterMs` **and** the
 * oldest unapplied record has waited that long (its timestamp is older): a partition that was
 * idle and just received a record is not stalled, one the sink keeps failing on is. Progress
 * comes from `backbone.consumer_offsets.updated_at`, which the sink sets with every stored offset.
 *
 * @example const stalled = await stalledPartitions({ admin, pool, groupId, topics, stalledAfterMs: 300_000 });
 */
export async function stalledPartitions(
  input: StreamLagInput & { readonly stalledAfterMs: number; readonly now?: Date },
): Promise<StalledPartition[]> {
  const now = input.now ?? new Date();
  const cutoff = new Date(now.getTime() - input.stalledAfterMs);
  const stored = await readGroupOffsets(input.pool, input.groupId, input.topics);
  const lastProgress = new Map(stored.map((row) => [partitionKey(row.topic, row.partition), row.updatedAt]));
  const lags = await consumerLag({
    admin: input.admin,
    groupId: input.groupId,
    topics: input.topics,
    committedOffsets: stored,
  });
  const candidates = lags
    .map((lag) => ({ lag, progressAt: lastProgress.get(partitionKey(lag.topic, lag.partition)) ?? null }))
    .filter(({ lag, progressAt }) => lag.lag > 0n && (progressAt === null || progressAt <= cutoff));
  const stalled: StalledPartition[] = [];
  for (const topic of new Set(candidates.map(({ lag }) => lag.topic))) {
    // Records at or after these offsets arrived within the window: they have not waited long.
    const recent = new Map(
      (await input.admin.fetchTopicOffsetsAt(topic, cutoff)).map((entry) => [entry.partition, entry.offset]),
    );
    for (const { lag, progressAt } of candidates.filter((candidate) => candidate.lag.topic === topic)) {
      const firstPendingOffset = lag.logEndOffset - lag.lag;
      if (firstPendingOffset >= (recent.get(lag.partition) ?? lag.logEndOffset)) continue;
      stalled.push({
        groupId: lag.groupId,
        topic: lag.topic,
        partition: lag.partition,
        lag: lag.lag,
        firstPendingOffset,
        lastProgressAt: progressAt,
      });
    }
  }
  return stalled;
}

/**
 * Registers the OTel gauge `backbone.stream.consumer_lag` (records; attributes group, topic,
 * partition), measured at each collection. A failed measurement is logged and skipped, never
 * reported as zero lag.
 *
 * @example registerLagGauge({ admin, pool, groupId, topics: [TOPICS.marketBars], logger });
 */
export function registerLagGauge(
  input: StreamLagInput & { readonly logger: Logger; readonly meter?: Meter },
): ObservableGauge {
  const meter = input.meter ?? metrics.getMeter('@backbone/stream');
  const gauge = meter.createObservableGauge('backbone.stream.consumer_lag', {
    description: 'Records in the topic not yet applied by the sink (log end offset - stored next offset).',
    unit: '{record}',
  });
  gauge.addCallback(async (result) => {
    try {
      for (const lag of await streamLag(input)) {
        result.observe(Number(lag.lag), {
          'messaging.consumer.group.name': lag.groupId,
          'messaging.destination.name': lag.topic,
          'messaging.destination.partition.id': String(lag.partition),
        });
      }
    } catch (error) {
      input.logger.warn({ err: error }, 'consumer lag not measured');
    }
  });
  return gauge;
}
