import { startHeartbeat, type Heartbeat, type SupervisorSnapshot } from '@backbone/supervisor';
import {
  createTestKeyNamespace,
  testEndpoints,
  uniqueName,
  waitFor,
  type TestResource,
} from '@backbone/testing';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCheck } from '../run-check.ts';
import { testRules } from '../test-support/config.ts';
import { bullmqChecks, type BullmqChecks } from './bullmq.ts';
import { workersCheck } from './workers.ts';

const rules = testRules({}, { queueWaitSeconds: { warn: 60, fail: 600 } });
const silent = { info: () => undefined, warn: () => undefined, error: () => undefined };

function snapshot(
  childState: 'running' | 'failed' | 'orphaned',
  status: SupervisorSnapshot['status'] = 'running',
): SupervisorSnapshot {
  return {
    name: 'stream-bridge',
    status,
    strategy: 'one_for_one',
    startedAt: new Date().toISOString(),
    escalation: null,
    children: [
      {
        name: 'bar-sink',
        state: childState,
        restartType: 'permanent',
        restarts: childState === 'running' ? 0 : 5,
        lastError:
          childState === 'running' ? null : { name: 'KafkaClientError', message: 'broker went away' },
        startedAt: new Date().toISOString(),
        metadata: {},
      },
    ],
  };
}

describe('BullMQ and worker probes on the real Redis', () => {
  let redis: Redis;
  let namespace: { prefix: string } & TestResource;
  const heartbeats: Heartbeat[] = [];
  const opened: BullmqChecks[] = [];

  beforeAll(async () => {
    redis = new Redis(testEndpoints().redisUrl, { maxRetriesPerRequest: 1 });
    namespace = createTestKeyNamespace(testEndpoints().redisUrl, 'readiness_bull');
    await redis.ping();
  });
  afterAll(async () => {
    await Promise.allSettled(heartbeats.map((heartbeat) => heartbeat.stop()));
    await Promise.allSettled(opened.map((checks) => checks.close()));
    redis.disconnect();
    await namespace.drop();
  });

  it('queue: counts, schedulers with next run and oldest waiting job; fail for a missing scheduler and an old job', async () => {
    const prefix = `${namespace.prefix}bull`;
    const name = uniqueName('ingest');
    const producer = new Queue(name, { connection: redis, prefix });
    try {
      // A cron for next New Year: its next job waits delayed, so nothing is waiting yet.
      await producer.upsertJobScheduler(
        'fx-intraday',
        { pattern: '0 0 1 1 *' },
        { name: 'run-plan', data: {} },
      );
      const checks = bullmqChecks({
        redis,
        prefix,
        rules,
        queues: [{ name, expectedSchedulers: ['fx-intraday'] }],
      });
      opened.push(checks);
      const [queueCheck] = checks.checks;
      if (queueCheck === undefined) throw new Error('no queue check');
      const healthy = await runCheck(queueCheck, 5_000);
      expect(healthy.status).toBe('ok');
      expect(healthy.evidence).toMatchObject({
        queue: name,
        counts: { waiting: 0, active: 0, delayed: 1, failed: 0 },
        schedulers: [{ id: 'fx-intraday', pattern: '0 0 1 1 *', nextRun: expect.any(String) as string }],
      });

      const missing = bullmqChecks({
        redis,
        prefix,
        rules,
        queues: [{ name, expectedSchedulers: ['fx-intraday', 'fx-daily'] }],
      });
      opened.push(missing);
      const [missingCheck] = missing.checks;
      if (missingCheck === undefined) throw new Error('no queue check');
      const noScheduler = await runCheck(missingCheck, 5_000);
      expect(noScheduler.status).toBe('fail');
      expect(noScheduler.message).toContain(`BullMQ queue ${name} has no job scheduler fx-daily`);

      // A job enqueued 20 minutes ago that nobody took: past the 600 s fail threshold.
      await producer.add('run-plan', { planName: 'fx-intraday' }, { timestamp: Date.now() - 20 * 60_000 });
      const backlog = await runCheck(queueCheck, 5_000);
      expect(backlog.status).toBe('fail');
      expect(backlog.reason).toBe('queue_backlog');
      expect(backlog.message).toMatch(new RegExp(`oldest waiting job on ${name} has waited 20m`));
    } finally {
      await producer.obliterate({ force: true });
      await producer.close();
    }
  });

  it('finding 3.6: a job scheduler that missed its run (no worker took it) fails naming the queue, the scheduler and the run; a worker taking it brings ok', async () => {
    const prefix = `${namespace.prefix}bull`;
    const name = uniqueName('missed_schedule');
    const producer = new Queue(name, { connection: redis, prefix });
    const graceSeconds = 2;
    const graceRules = testRules(
      { readiness: { missedScheduleGraceSeconds: graceSeconds } },
      { queueWaitSeconds: { warn: 600, fail: 1800 } },
    );
    try {
      await producer.upsertJobScheduler('fx-every-second', { every: 1_000 }, { name: 'run-plan', data: {} });
      const checks = bullmqChecks({
        redis,
        prefix,
        rules: graceRules,
        queues: [{ name, expectedSchedulers: ['fx-every-second'], schedulerOwner: 'timescale-ingestor' }],
      });
      opened.push(checks);
      const [queueCheck] = checks.checks;
      if (queueCheck === undefined) throw new Error('no queue check');
      // No worker runs: the scheduled run comes due and nobody takes it.
      const due = await waitFor(
        async () => {
          const next = (await producer.getJobScheduler('fx-every-second'))?.next;
          return next !== undefined && Date.now() - next > (graceSeconds + 1) * 1000 ? next : false;
        },
        { description: 'the scheduled run to be overdue beyond the grace', timeoutMs: 15_000 },
      );
      const missed = await runCheck(queueCheck, 5_000);
      expect(missed.status).toBe('fail');
      expect(missed.reason).toBe('schedule_missed');
      expect(missed.message).toContain(
        `Job scheduler fx-every-second on BullMQ queue ${name} missed its run due at ${new Date(due).toISOString()}`,
      );
      expect(missed.message).toContain('start the timescale-ingestor');

      const url = new URL(testEndpoints().redisUrl);
      const worker = new Worker(name, () => Promise.resolve(), {
        connection: { host: url.hostname, port: Number(url.port), maxRetriesPerRequest: null },
        prefix,
      });
      try {
        await waitFor(async () => ((await producer.getJobScheduler('fx-every-second'))?.next ?? 0) > due, {
          description: 'the worker to take the run and the scheduler to move on',
        });
        // The worker keeps taking runs: the next one is never overdue beyond the grace.
        expect((await runCheck(queueCheck, 5_000)).status).toBe('ok');
      } finally {
        await worker.close();
      }
    } finally {
      await producer.obliterate({ force: true });
      await producer.close();
    }
  });

  it('queue: a failed job warns with the count', async () => {
    const prefix = `${namespace.prefix}bull`;
    const name = uniqueName('cache_warm');
    const producer = new Queue(name, { connection: redis, prefix });
    try {
      await producer.add('warm-all', { reason: 'manual' }, { attempts: 1 });
      const url = new URL(testEndpoints().redisUrl);
      const worker = new Worker(
        name,
        () => {
          throw new Error('redis refused');
        },
        { connection: { host: url.hostname, port: Number(url.port), maxRetriesPerRequest: null }, prefix },
      );
      try {
        await waitFor(async () => (await producer.getFailedCount()) === 1, {
          description: 'the job to fail',
        });
      } finally {
        await worker.close();
      }
      const checks = bullmqChecks({ redis, prefix, rules, queues: [{ name, expectedSchedulers: [] }] });
      opened.push(checks);
      const [queueCheck] = checks.checks;
      if (queueCheck === undefined) throw new Error('no queue check');
      const result = await runCheck(queueCheck, 5_000);
      expect(result.status).toBe('warn');
      expect(result.reason).toBe('jobs_failed');
      expect(result.message).toContain(`BullMQ queue ${name} holds 1 failed jobs`);
    } finally {
      await producer.obliterate({ force: true });
      await producer.close();
    }
  });

  it('workers: ok with every expected heartbeat, fail for a missing worker and for a failed child', async () => {
    const keyNamespace = `${namespace.prefix}w:`;
    heartbeats.push(
      startHeartbeat({
        redis,
        keyNamespace,
        worker: 'stream-bridge',
        instanceId: 'a:1',
        intervalMs: 1_000,
        snapshot: () => snapshot('running'),
        logger: silent,
      }),
    );
    await heartbeats[0]?.beat();
    const healthy = await runCheck(
      workersCheck({ redis, keyNamespace, expectedWorkers: ['stream-bridge'] }),
      5_000,
    );
    expect(healthy.status).toBe('ok');
    expect(healthy.evidence.instances).toMatchObject([
      { worker: 'stream-bridge', instanceId: 'a:1', supervisor: 'running' },
    ]);

    const missing = await runCheck(
      workersCheck({ redis, keyNamespace, expectedWorkers: ['stream-bridge', 'cache-warmer'] }),
      5_000,
    );
    expect(missing.status).toBe('fail');
    expect(missing.reason).toBe('worker_missing');
    expect(missing.message).toContain('Worker cache-warmer has no live heartbeat');

    const failing = startHeartbeat({
      redis,
      keyNamespace,
      worker: 'cache-warmer',
      instanceId: 'b:2',
      intervalMs: 1_000,
      snapshot: () => snapshot('failed'),
      logger: silent,
    });
    heartbeats.push(failing);
    await failing.beat();
    const failedChild = await runCheck(
      workersCheck({ redis, keyNamespace, expectedWorkers: ['stream-bridge', 'cache-warmer'] }),
      5_000,
    );
    expect(failedChild.status).toBe('fail');
    expect(failedChild.reason).toBe('child_failed');
    expect(failedChild.message).toContain(
      'cache-warmer instance b:2: task bar-sink is failed (KafkaClientError: broker went away)',
    );
  });

  it('workers: an instance still starting (supervisor idle) is live; one stopping warns', async () => {
    const keyNamespace = `${namespace.prefix}s:`;
    const published = (status: SupervisorSnapshot['status'], instanceId: string) => {
      const heartbeat = startHeartbeat({
        redis,
        keyNamespace,
        worker: 'stream-bridge',
        instanceId,
        intervalMs: 1_000,
        snapshot: () => snapshot('running', status),
        logger: silent,
      });
      heartbeats.push(heartbeat);
      return heartbeat.firstBeat;
    };
    await published('idle', 'c:3');
    const starting = await runCheck(
      workersCheck({ redis, keyNamespace, expectedWorkers: ['stream-bridge'] }),
      5_000,
    );
    expect(starting.status).toBe('ok');
    expect(starting.evidence.instances).toMatchObject([{ instanceId: 'c:3', supervisor: 'idle' }]);

    await published('stopping', 'd:4');
    const stopping = await runCheck(
      workersCheck({ redis, keyNamespace, expectedWorkers: ['stream-bridge'] }),
      5_000,
    );
    expect(stopping.status).toBe('warn');
    expect(stopping.reason).toBe('supervisor_not_running');
    expect(stopping.message).toContain('stream-bridge instance d:4: its supervisor is stopping');
  });
});
