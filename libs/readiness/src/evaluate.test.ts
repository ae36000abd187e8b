import { describe, expect, it } from 'vitest';
import { readinessSnapshotSchema } from '@backbone/contracts';
import { notOk, ok } from './check.ts';
import { buildReport, evaluateReadiness, exitCodeOf } from './evaluate.ts';
import { renderMarkdown, renderPrometheus } from './render.ts';
import { testRules } from './test-support/config.ts';

const rules = testRules();

describe('evaluateReadiness', () => {
  it('degrades an optional failure to warn, keeps a required failure, and groups them', async () => {
    const report = await evaluateReadiness(
      [
        { name: 'redis.ping', component: 'redis', run: () => Promise.resolve(ok({ pingMs: 1 })) },
        {
          name: 'freshness.daily',
          component: 'ingest-freshness',
          run: () =>
            Promise.resolve(
              notOk('fail', 'data_stale', 'daily bars of EURUSD are 3d old.', { ageSeconds: 259_200 }),
            ),
        },
      ],
      rules,
    );
    expect(readinessSnapshotSchema.parse(report.snapshot)).toEqual(report.snapshot);
    const freshness = report.snapshot.components.find((component) => component.name === 'freshness.daily');
    expect(freshness).toMatchObject({
      required: false,
      status: 'warn',
      reason: 'data_stale',
      evidence: { probeStatus: 'fail' },
    });
    expect(report.groups).toEqual({ liveness: 'ok', readiness: 'ok', full: 'warn' });
    expect(report.problems).toEqual(['WARN freshness.daily: daily bars of EURUSD are 3d old.']);
    expect(exitCodeOf(report.snapshot.status)).toBe(1);
  });

  it('a probe that throws or hangs is fail, never ok by default', async () => {
    const report = await evaluateReadiness(
      [
        {
          name: 'kafka.cluster',
          component: 'kafka',
          run: () => Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:9092')),
        },
        { name: 'bullmq.ingest', component: 'bullmq', run: () => new Promise(() => undefined) },
      ],
      { ...rules, probeTimeoutMs: 50 },
    );
    expect(report.snapshot.components.map((c) => [c.name, c.status, c.reason])).toEqual([
      ['kafka.cluster', 'fail', 'probe_error'],
      ['bullmq.ingest', 'fail', 'probe_timeout'],
    ]);
    expect(report.groups.readiness).toBe('fail');
    expect(exitCodeOf(report.snapshot.status)).toBe(2);
    expect(report.problems[1]).toContain('bullmq did not answer the bullmq.ingest probe within 50 ms');
  });

  it('renders Markdown with problems first and Prometheus gauges per check', () => {
    const report = buildReport(
      [
        {
          name: 'redis.memory',
          component: 'redis',
          checkedAt: '2026-11-26T10:00:00.000Z',
          latencyMs: 2,
          ...notOk('fail', 'redis_eviction_policy', 'Redis maxmemory-policy is allkeys-lru | bad.', {}),
        },
      ],
      rules,
      '2026-11-26T10:00:00.000Z',
    );
    const markdown = renderMarkdown(report);
    expect(markdown).toContain('# Readiness: FAIL');
    expect(markdown).toContain('- FAIL redis.memory: Redis maxmemory-policy is allkeys-lru \\| bad.');
    const metrics = renderPrometheus(report.snapshot, new Date('2026-11-26T10:00:30.000Z'));
    expect(metrics).toContain('backbone_readiness_status 2');
    expect(metrics).toContain(
      'backbone_readiness_check_status{check="redis.memory",component="redis",required="true"} 2',
    );
    expect(metrics).toContain('backbone_readiness_snapshot_age_seconds 30');
  });
});
