import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { readinessSnapshotSchema } from '@backbone/contracts';
import { freePort, uniqueName } from '@backbone/testing';
import { describe, expect, inject, it } from 'vitest';
import { backbone as runBackbone, ROOT, type CommandOutcome } from '../e2e/processes.ts';

const { databaseUrl, redisUrl, kafkaBrokers } = inject('endpoints');
const env = {
  PATH: '/usr/bin:/bin',
  DATABASE_URL: databaseUrl,
  REDIS_URL: redisUrl,
  KAFKA_BROKERS: kafkaBrokers.join(','),
};
const EXIT_FOR = { ok: 0, warn: 1, fail: 2 } as const;

/** `./backbone` with this run's endpoints (and `extraEnv` over them) as its whole environment. */
function backbone(
  args: readonly string[],
  extraEnv: Record<string, string> = {},
  timeoutMs?: number,
): Promise<CommandOutcome> {
  return runBackbone(args, { ...env, ...extraEnv }, timeoutMs);
}

describe('./backbone report', { timeout: 90_000 }, () => {
  it('writes system_validation_report.json from a live run: now, every check with evidence, exit code = status', async () => {
    const out = join(ROOT, 'test-output', 'system_validation_report.json');
    const started = Date.now();
    const outcome = await backbone(['report', '--format', 'json', '--out', out]);
    const unvalidated = JSON.parse(await readFile(out, 'utf8')) as Record<string, unknown>;
    const { groups, problems, ...snapshot } = unvalidated;
    const report = readinessSnapshotSchema.parse(snapshot);
    expect(outcome.code, outcome.stderr).toBe(EXIT_FOR[report.status]);
    expect(Date.parse(report.generatedAt)).toBeGreaterThanOrEqual(started - 1_000);
    expect(Date.parse(report.generatedAt)).toBeLessThanOrEqual(Date.now());
    expect(report.components.length).toBeGreaterThanOrEqual(20);
    for (const component of report.components) {
      expect(Object.keys(component.evidence).length, component.name).toBeGreaterThan(0);
      if (component.status !== 'ok') expect(typeof component.evidence.message, component.name).toBe('string');
    }
    expect(groups).toMatchObject({ full: report.status });
    expect(Array.isArray(problems)).toBe(true);
    expect(outcome.stdout).toContain(`readiness ${report.status.toUpperCase()}`);
  });

  it('exits 2 with a reason naming Redis when Redis does not answer', async () => {
    const outcome = await backbone(['report', '--format', 'markdown'], {
      REDIS_URL: `redis://127.0.0.1:${await freePort()}`,
    });
    expect(outcome.code).toBe(2);
    expect(outcome.stdout).toContain('# Readiness: FAIL');
    expect(outcome.stdout).toMatch(/- FAIL redis\.ping: .*redis/);
  });

  it('exits once the report is out even when every probe timed out with its client still connecting', async () => {
    // A probe timing out leaves its call running; the Kafka admin was still connecting when the
    // report closed its clients, and that connection kept the process alive for good.
    const outcome = await backbone(
      ['report', '--format', 'json', '--set', 'readiness.probeTimeoutMs=1'],
      {},
      30_000,
    );
    expect(outcome.code).toBe(2);
    expect(outcome.stdout).toContain('"status": "fail"');
  });

  it('reports topics of a namespace that has none as missing, and exits', async () => {
    // kafkajs retried the calls on those topics for longer than the probe waited, and a retry
    // after the report closed its admin connected again: the process never ended.
    const outcome = await backbone(
      ['report', '--format', 'json', '--set', `kafka.namespace=${uniqueName('none')}.`],
      {},
      30_000,
    );
    expect(outcome.code).toBe(2);
    const { components } = JSON.parse(outcome.stdout) as { components: { name: string }[] };
    const topics = components.find((component) => component.name === 'kafka.topics');
    expect(topics).toMatchObject({ status: 'fail', reason: 'topic_missing' });
  });

  it('exits 2 on an unknown format, naming it', async () => {
    const outcome = await backbone(['report', '--format', 'yaml']);
    expect(outcome.code).toBe(2);
    expect(outcome.stderr).toContain('--format must be one of json, markdown, got yaml');
  });
});
