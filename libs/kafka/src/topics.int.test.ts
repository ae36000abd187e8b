import { uniqueName, waitFor } from '@backbone/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKafkaFixture, type KafkaFixture } from './test-support/kafka-fixture.ts';
import { ensureTopics, topicSpecsFromConfig, type TopicSpec } from './topics.ts';

let kafka: KafkaFixture;
beforeAll(async () => {
  kafka = await createKafkaFixture();
});
afterAll(async () => {
  await kafka.dispose();
});

/** The four fixed topics under a unique prefix, shaped like the config section. */
function fixedTopicSpecs(): TopicSpec[] {
  const prefix = `${uniqueName('topics')}.`;
  const specs = topicSpecsFromConfig({
    namespace: prefix,
    topics: {
      'market.bars.v1': {
        partitions: 3,
        replicationFactor: 1,
        configs: { 'retention.ms': '604800000', 'cleanup.policy': 'delete', 'max.message.bytes': '1048576' },
      },
      'market.bars.v1.dlq': {
        partitions: 1,
        replicationFactor: 1,
        configs: { 'retention.ms': '2592000000', 'cleanup.policy': 'delete' },
      },
      'backbone.ingest-events.v1': {
        partitions: 2,
        replicationFactor: 1,
        configs: {
          'retention.ms': '604800000',
          'cleanup.policy': 'delete',
          'min.insync.replicas': undefined,
        },
      },
      'backbone.readiness.v1': {
        partitions: 1,
        replicationFactor: 1,
        configs: { 'cleanup.policy': 'delete' },
      },
    },
  });
  for (const spec of specs) kafka.track(spec.name);
  return specs;
}

async function configValue(topic: string, name: string): Promise<string | null | undefined> {
  const entries = (await kafka.admin.describeTopicConfigs([topic])).get(topic) ?? [];
  return entries.find((entry) => entry.name === name)?.value;
}

describe('ensureTopics', () => {
  it('dry run creates nothing and says what it would create', async () => {
    const specs = fixedTopicSpecs();
    const report = await ensureTopics(kafka.admin, specs, { dryRun: true });
    expect(report.dryRun).toBe(true);
    expect(report.ok).toBe(true);
    expect(report.topics.map((t) => t.action)).toEqual(['created', 'created', 'created', 'created']);
    const existing = await kafka.admin.listTopics();
    expect(specs.filter((spec) => existing.includes(spec.name))).toEqual([]);
  });

  it('creates the topics, then a second run finds everything unchanged', async () => {
    const specs = fixedTopicSpecs();
    expect(specs[2]?.configs).not.toHaveProperty('min.insync.replicas');
    const first = await ensureTopics(kafka.admin, specs);
    expect(first.topics.map((t) => [t.topic, t.action])).toEqual(specs.map((s) => [s.name, 'created']));
    const [bars] = await kafka.admin.fetchTopicMetadata([specs[0]?.name ?? '']);
    expect(bars?.partitions).toHaveLength(3);
    expect(await configValue(specs[0]?.name ?? '', 'max.message.bytes')).toBe('1048576');

    const second = await ensureTopics(kafka.admin, specs);
    expect(second.ok).toBe(true);
    expect(second.topics.map((t) => t.action)).toEqual(['unchanged', 'unchanged', 'unchanged', 'unchanged']);
    expect(second.topics.every((t) => t.configChanges.length === 0)).toBe(true);
  });

  it('alters drifted configs (keeping overrides outside the spec), and a dry run only reports them', async () => {
    const [spec] = fixedTopicSpecs();
    if (spec === undefined) throw new Error('no spec');
    await ensureTopics(kafka.admin, [spec]);
    // Drift: someone changed retention and added an override the spec does not name.
    await kafka.admin.replaceTopicConfigs(spec.name, {
      ...spec.configs,
      'retention.ms': '1000',
      'segment.ms': '3600000',
    });
    // KRaft applies config changes from the metadata log: visible shortly after the call returns.
    await waitFor(async () => (await configValue(spec.name, 'retention.ms')) === '1000', {
      description: 'the drifted retention.ms',
    });

    const dry = await ensureTopics(kafka.admin, [spec], { dryRun: true });
    expect(dry.topics[0]).toMatchObject({
      action: 'updated',
      configChanges: [{ name: 'retention.ms', from: '1000', to: '604800000' }],
    });
    expect(await configValue(spec.name, 'retention.ms')).toBe('1000');

    const applied = await ensureTopics(kafka.admin, [spec]);
    expect(applied.topics[0]?.action).toBe('updated');
    await waitFor(async () => (await configValue(spec.name, 'retention.ms')) === '604800000', {
      description: 'the restored retention.ms',
    });
    expect(await configValue(spec.name, 'segment.ms')).toBe('3600000');
    expect((await ensureTopics(kafka.admin, [spec])).topics[0]?.action).toBe('unchanged');
  });

  it('reports a partition-count difference as mismatched and leaves the topic alone', async () => {
    const [spec] = fixedTopicSpecs();
    if (spec === undefined) throw new Error('no spec');
    await ensureTopics(kafka.admin, [spec]);
    const report = await ensureTopics(kafka.admin, [{ ...spec, partitions: 5 }]);
    expect(report.ok).toBe(false);
    expect(report.topics[0]).toMatchObject({
      action: 'mismatched',
      partitions: { expected: 5, actual: 3 },
      replicationFactor: { expected: 1, actual: 1 },
    });
    expect(report.topics[0]?.reason).toMatch(/partitions 3, config says 5/);
    const [metadata] = await kafka.admin.fetchTopicMetadata([spec.name]);
    expect(metadata?.partitions).toHaveLength(3);
  });

  it('reports a topic the broker refuses as failed, with the reason', async () => {
    const name = kafka.track(uniqueName('bad'));
    const report = await ensureTopics(kafka.admin, [
      { name, partitions: 1, replicationFactor: 9, configs: {} },
    ]);
    expect(report.ok).toBe(false);
    expect(report.topics[0]?.action).toBe('failed');
    expect(report.topics[0]?.reason).toMatch(/replication/i);
  });
});
