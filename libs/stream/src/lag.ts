import { metrics, type Meter, type ObservableGauge } from '@opentelemetry/api';
import { consumerLag, type AdminPort, type PartitionLag } from '@backbone/kafka';
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
