import { systemConfigSchema } from '@backbone/config';
import { readinessSnapshotSchema, type ReadinessSnapshot } from '@backbone/contracts';
import { createKafkajsClient, ensureTopics, topicSpecsFromConfig, type ConsumerPort } from '@backbone/kafka';
import { startHeartbeat, type Heartbeat } from '@backbone/supervisor';
import {
  createTestKeyNamespace,
  createTestTopic,
  uniqueName,
  waitFor,
  type TestResource,
  freePort,
  testEndpoints as endpoints,
} from '@backbone/testing';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../test-support/database.ts';
import { ReporterApp } from './reporter-app.ts';

const silent = { info: () => undefined, warn: () => undefined };

describe('readiness-reporter app against the real stack', () => {
  let db: TestDatabase;
  let namespace: { prefix: string } & TestResource;
  let snapshotTopic: { name: string } & TestResource;
  let barsTopic: { name: string } & TestResource;
  let redis: Redis;
  let heartbeat: Heartbeat;
  let app: ReporterApp;
  let consumer: ConsumerPort;
  const published: ReadinessSnapshot[] = [];

  beforeAll(async () => {
    const { databaseUrl, redisUrl, kafkaBrokers } = endpoints();
    db = await createTestDatabase(databaseUrl, 'readiness_app');
    namespace = createTestKeyNamespace(redisUrl, 'readiness_app');
    snapshotTopic = await createTestTopic(kafkaBrokers, 'readiness_snapshots');
    barsTopic = await createTestTopic(kafkaBrokers, 'readiness_app_bars');
    const config = systemConfigSchema.parse({
      database: { url: db.url },
      redis: { url: redisUrl, keyNamespace: namespace.prefix },
      kafka: { brokers: kafkaBrokers },
      readiness: { expectedWorkers: ['streamBridge'], probeIntervalSeconds: 3600, probeTimeoutMs: 5_000 },
      workers: { readinessReporter: { port: await freePort() } },
    });
    const kafka = createKafkajsClient({
      brokers: kafkaBrokers,
      clientId: 'readiness-app-test',
      logLevel: 'error',
    });
    // The fixed topics must exist for kafka.topics to be ok; ensuring them is idempotent.
    const admin = kafka.admin();
    await admin.connect();
    await ensureTopics(admin, topicSpecsFromConfig(config.kafka));
    await admin.close();
    consumer = kafka.consumer({ groupId: uniqueName('readiness_app_reader') });
    await consumer.connect();
    await consumer.subscribe([snapshotTopic.name], { fromBeginning: true });
    await consumer.run({
      eachBatch: (batch) => {
        for (const message of batch.messages) {
          published.push(
            readinessSnapshotSchema.parse(JSON.parse(message.value?.toString('utf8') ?? 'null')),
          );
        }
        return Promise.resolve();
      },
    });
    redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
    heartbeat = startHeartbeat({
      redis,
      keyNamespace: namespace.prefix,
      worker: 'stream-bridge',
      instanceId: 'test:1',
      snapshot: () => ({
        name: 'stream-bridge',
        status: 'running',
        strategy: 'one_for_one',
        startedAt: null,
        escalation: null,
        children: [],
      }),
      logger: { ...silent, error: () => undefined },
    });
    await heartbeat.beat();
    app = new ReporterApp({
      config,
      logger: silent,
      snapshotTopic: snapshotTopic.name,
      // A group of our own: the shared market.bars.v1 carries other tests' records.
      checks: { consumerGroups: [{ groupId: uniqueName('readiness_app_group'), topics: [barsTopic.name] }] },
    });
    await app.start();
  });
  afterAll(async () => {
    await Promise.allSettled([app.stop(), heartbeat.stop(), consumer.close()]);
    redis.disconnect();
    await Promise.allSettled([db.drop(), namespace.drop(), snapshotTopic.drop(), barsTopic.drop()]);
  });

  const get = async (path: string) => {
    const response = await fetch(`${app.url ?? ''}${path}`);
    return {
      status: response.status,
      type: response.headers.get('content-type') ?? '',
      text: await response.text(),
    };
  };

  it('serves a ready report from live probes, stores it and publishes it', async () => {
    const readyz = await get('/readyz');
    expect(readyz.status, readyz.text).toBe(200);
    const report = JSON.parse((await get('/report.json')).text) as ReadinessSnapshot & {
      groups: { readiness: string };
    };
    expect(report.groups.readiness).not.toBe('fail');
    const names = report.components.map((component) => component.name);
    for (const name of [
      'timescaledb.connection',
      'redis.memory',
      'kafka.topics',
      'kafka.consumer-lag',
      'bullmq.ingest',
      'workers.heartbeats',
      'retention.bars',
      'freshness.daily',
    ]) {
      expect(names).toContain(name);
    }
    for (const component of report.components.filter((c) => c.required)) {
      expect([component.name, component.status]).not.toEqual([component.name, 'fail']);
    }

    const stored = await db.pool.query<{ status: string; report: { id: string } }>(
      'SELECT status, report FROM backbone.readiness_snapshots',
    );
    expect(stored.rows.map((row) => row.report.id)).toContain(report.id);
    const seen = await waitFor(() => published.find((snapshot) => snapshot.id === report.id), {
      description: 'the snapshot on Kafka',
      timeoutMs: 20_000,
    });
    expect(seen.status).toBe(report.status);

    const metrics = await get('/metrics');
    expect(metrics.text).toContain(
      'backbone_readiness_check_status{check="workers.heartbeats",component="workers",required="true"} 0',
    );
    expect((await get('/livez')).status).toBe(200);
    const page = await get('/');
    expect(page.type).toContain('text/html');
    expect(page.text).toContain('workers.heartbeats');
  });

  it('answers 503 on /readyz with the reason when a required component fails', async () => {
    await heartbeat.stop();
    await app.reporter?.runRound();
    const readyz = await get('/readyz');
    expect(readyz.status).toBe(503);
    const body = JSON.parse(readyz.text) as { readiness: string; problems: string[] };
    expect(body.readiness).toBe('fail');
    expect(body.problems.join('\n')).toContain(
      'FAIL workers.heartbeats: Worker stream-bridge has no live heartbeat',
    );
    const stored = await db.pool.query<{ status: string }>(
      'SELECT status FROM backbone.readiness_snapshots ORDER BY id',
    );
    expect(stored.rows.at(-1)?.status).toBe('fail');
  });
});
