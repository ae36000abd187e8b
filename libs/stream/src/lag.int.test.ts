import { MeterProvider, MetricReader, type GaugeMetricData } from '@opentelemetry/sdk-metrics';
import { uniqueName } from '@backbone/testing';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { registerLagGauge, streamLag } from './lag.ts';
import {
  createMigratedDatabase,
  createTestKafka,
  testLogger,
  type TestDatabase,
  type TestKafka,
} from './test-support/stack.ts';

let db: TestDatabase;
let kafka: TestKafka;

beforeAll(async () => {
  [db, kafka] = await Promise.all([createMigratedDatabase('stream_lag'), createTestKafka()]);
});

afterAll(async () => {
  await kafka.dispose();
  await db.drop();
});

/** Collects on demand (no export interval). */
class OnDemandReader extends MetricReader {
  protected override onShutdown(): Promise<void> {
    return Promise.resolve();
  }
  protected override onForceFlush(): Promise<void> {
    return Promise.resolve();
  }
}

it('measures lag against the database offsets, per partition, as an OTel gauge', async () => {
  const topic = await kafka.topic('bars', 2);
  const groupId = uniqueName('sink');
  for (const partition of [0, 1]) {
    await kafka.producer.send(
      topic,
      Array.from({ length: 10 }, (_, i) => ({ key: `k${i}`, value: String(i), partition })),
    );
  }
  // The database says partition 0 is applied up to offset 4; partition 1 was never applied.
  await db.pool.query(
    `INSERT INTO backbone.consumer_offsets (group_id, topic, partition, next_offset) VALUES ($1, $2, 0, 4)`,
    [groupId, topic],
  );

  const lags = await streamLag({ admin: kafka.admin, pool: db.pool, groupId, topics: [topic] });
  expect(lags.map(({ partition, lag, source }) => ({ partition, lag, source }))).toEqual([
    { partition: 0, lag: 6n, source: 'caller' },
    { partition: 1, lag: 10n, source: 'none' },
  ]);

  const reader = new OnDemandReader();
  const provider = new MeterProvider({ readers: [reader] });
  registerLagGauge({
    admin: kafka.admin,
    pool: db.pool,
    groupId,
    topics: [topic],
    logger: testLogger('lag-test'),
    meter: provider.getMeter('test'),
  });
  const { resourceMetrics } = await reader.collect();
  const gauge = resourceMetrics.scopeMetrics
    .flatMap((scope) => scope.metrics)
    .find((metric) => metric.descriptor.name === 'backbone.stream.consumer_lag') as
    GaugeMetricData | undefined;
  expect(
    gauge?.dataPoints.map((point) => [point.attributes['messaging.destination.partition.id'], point.value]),
  ).toEqual([
    ['0', 6],
    ['1', 10],
  ]);
  await provider.shutdown();
});
