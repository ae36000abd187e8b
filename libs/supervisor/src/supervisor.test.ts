import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { RestartIntensityExceededError } from './errors/restart-intensity-exceeded-error.ts';
import { SiblingOrphanedError } from './errors/sibling-orphaned-error.ts';
import { SupervisorConfigError } from './errors/supervisor-config-error.ts';
import { supervisorSnapshotSchema } from './snapshot.ts';
import { Supervisor, type ChildSpec, type SupervisorOptions } from './supervisor.ts';
import { hangForever, recordingLogger, untilAborted } from './test-support/children.ts';

/** No jitter surprises: with random() = 0.5 every delay is exactly initialMs * 2^(attempt-1). */
function supervisor(children: ChildSpec[], options: Partial<SupervisorOptions> = {}): Supervisor {
  return new Supervisor({
    name: 'test',
    children,
    logger: recordingLogger().logger,
    random: () => 0.5,
    backoff: { initialMs: 100, factor: 2, maxMs: 10_000, jitter: 0.2 },
    ...options,
  });
}

function childState(sup: Supervisor, name: string): string | undefined {
  return sup.snapshot().children.find((c) => c.name === name)?.state;
}

function child(name: string, spec: Partial<ChildSpec> = {}): ChildSpec {
  return { name, restart: 'permanent', start: untilAborted, ...spec };
}

beforeEach(() => {
  vi.useFakeTimers();
});

afterEach(() => {
  vi.useRealTimers();
});

describe('Supervisor restart intensity', () => {
  it('escalates a crash loop once the restarts within the period exceed maxRestarts, stopping every child', async () => {
    let crashes = 0;
    const stoppedSiblings: string[] = [];
    const sup = supervisor(
      [
        child('steady', {
          start: async (signal) => {
            await untilAborted(signal);
            stoppedSiblings.push('steady');
          },
        }),
        child('crasher', {
          start: () => {
            crashes += 1;
            return Promise.reject(new Error('connect redis://:hunter2@cache:6379 refused'));
          },
        }),
      ],
      { intensity: { maxRestarts: 3, periodMs: 10_000 } },
    );

    sup.start();
    await vi.runAllTimersAsync();
    const report = await sup.terminated;

    expect(crashes).toBe(4); // the first run plus three restarts; the fourth exit escalates
    expect(report.reason).toBe('escalated');
    expect(report.clean).toBe(false);
    expect(report.escalation).toBeInstanceOf(RestartIntensityExceededError);
    expect(report.escalation).toMatchObject({ child: 'crasher', maxRestarts: 3, periodMs: 10_000 });
    expect(stoppedSiblings).toEqual(['steady']);
    const snapshot = report.snapshot;
    expect(snapshot.status).toBe('escalated');
    expect(snapshot.escalation?.message).toContain('crasher');
    expect(snapshot.children).toMatchObject([
      { name: 'steady', state: 'stopped', restarts: 0 },
      { name: 'crasher', state: 'failed', restarts: 3 },
    ]);
    // The last error is in the snapshot, with its secret redacted.
    const lastError = snapshot.children[1]?.lastError;
    expect(lastError?.message).toContain('redis://:***@cache:6379');
    expect(JSON.stringify(snapshot)).not.toContain('hunter2');
  });

  it('does not escalate when the restarts are spread wider than the period', async () => {
    let runs = 0;
    const sup = supervisor(
      [
        child('slow-crasher', {
          start: async (signal) => {
            runs += 1;
            // Each run lives 6 s, so at most two restarts fall into any 10 s window.
            await new Promise((resolve) => setTimeout(resolve, 6_000));
            if (!signal.aborted) throw new Error('crash');
          },
        }),
      ],
      { intensity: { maxRestarts: 2, periodMs: 10_000 } },
    );
    sup.start();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(runs).toBeGreaterThanOrEqual(9);
    expect(sup.status).toBe('running');
    const stopping = sup.stop();
    await vi.runAllTimersAsync();
    expect((await stopping).reason).toBe('requested');
  });
});

describe('Supervisor restart types', () => {
  it('restarts a transient child after a failure but not after a normal exit', async () => {
    let runs = 0;
    const sup = supervisor([
      child('anchor'),
      child('job', {
        restart: 'transient',
        start: () => {
          runs += 1;
          return runs === 1 ? Promise.reject(new Error('first run fails')) : Promise.resolve();
        },
      }),
    ]);
    sup.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(childState(sup, 'job')).toBe('restarting');
    await vi.advanceTimersByTimeAsync(99);
    expect(runs).toBe(1); // backoff: not before 100 ms
    await vi.advanceTimersByTimeAsync(1);
    expect(runs).toBe(2);
    await vi.runAllTimersAsync();
    expect(runs).toBe(2); // the normal exit of run 2 is final
    expect(sup.snapshot().children[1]).toMatchObject({ state: 'stopped', restarts: 1 });
    expect(sup.snapshot().children[1]?.lastError?.message).toBe('first run fails');
    expect(sup.status).toBe('running');
  });

  it('never restarts a temporary child, whether it failed or exited normally', async () => {
    const runs = { failing: 0, finishing: 0 };
    const sup = supervisor([
      child('anchor'),
      child('failing', {
        restart: 'temporary',
        start: () => {
          runs.failing += 1;
          return Promise.reject(new Error('nope'));
        },
      }),
      child('finishing', {
        restart: 'temporary',
        start: () => {
          runs.finishing += 1;
          return Promise.resolve();
        },
      }),
    ]);
    sup.start();
    await vi.runAllTimersAsync();
    expect(runs).toEqual({ failing: 1, finishing: 1 });
    expect(childState(sup, 'failing')).toBe('failed');
    expect(childState(sup, 'finishing')).toBe('stopped');
  });

  it('always restarts a permanent child, even after a normal exit', async () => {
    let runs = 0;
    const sup = supervisor([
      child('loop', {
        start: async (signal) => {
          runs += 1;
          if (runs < 3) return;
          await untilAborted(signal);
        },
      }),
    ]);
    sup.start();
    await vi.advanceTimersByTimeAsync(100 + 200);
    expect(runs).toBe(3);
    expect(sup.snapshot().children[0]).toMatchObject({ state: 'running', restarts: 2, lastError: null });
  });

  it('stops by itself with reason "completed" once every child has exited for good', async () => {
    const sup = supervisor([
      child('once', { restart: 'transient', start: () => Promise.resolve() }),
      child('oops', { restart: 'temporary', start: () => Promise.reject(new Error('bad input')) }),
    ]);
    sup.start();
    await vi.runAllTimersAsync();
    const report = await sup.terminated;
    expect(report.reason).toBe('completed');
    expect(report.clean).toBe(false); // the temporary child failed
    expect(report.snapshot.status).toBe('stopped');
  });
});

describe('Supervisor strategies', () => {
  function tracedChild(name: string, events: string[], failFirstRun = false): ChildSpec {
    let runs = 0;
    return child(name, {
      start: async (signal) => {
        runs += 1;
        events.push(`start ${name}`);
        if (failFirstRun && runs === 1) {
          await Promise.resolve();
          events.push(`fail ${name}`);
          throw new Error(`${name} crashed`);
        }
        await untilAborted(signal);
        events.push(`stop ${name}`);
      },
    });
  }

  it('rest_for_one stops the later siblings (last first) and restarts them after the failed child, in order', async () => {
    const events: string[] = [];
    const sup = supervisor(
      [
        tracedChild('a', events),
        tracedChild('b', events, true),
        tracedChild('c', events),
        tracedChild('d', events),
      ],
      { strategy: 'rest_for_one' },
    );
    sup.start();
    await vi.runAllTimersAsync();
    expect(events).toEqual([
      'start a',
      'start b',
      'start c',
      'start d',
      'fail b',
      'stop d',
      'stop c',
      'start b',
      'start c',
      'start d',
    ]);
    expect(sup.snapshot().children.map((c) => [c.name, c.state, c.restarts])).toEqual([
      ['a', 'running', 0],
      ['b', 'running', 1],
      ['c', 'running', 1],
      ['d', 'running', 1],
    ]);
  });

  it('one_for_one restarts only the child that failed', async () => {
    const events: string[] = [];
    const sup = supervisor([
      tracedChild('a', events),
      tracedChild('b', events, true),
      tracedChild('c', events),
    ]);
    sup.start();
    await vi.runAllTimersAsync();
    expect(events).toEqual(['start a', 'start b', 'start c', 'fail b', 'start b']);
  });

  it('rest_for_one escalates instead of running two copies when a later sibling does not stop', async () => {
    let runs = 0;
    const sup = supervisor(
      [
        child('a', {
          start: () => {
            runs += 1;
            return runs === 1 ? Promise.reject(new Error('a crashed')) : hangForever();
          },
        }),
        child('stuck', { start: hangForever, shutdownDeadlineMs: 500 }),
      ],
      { strategy: 'rest_for_one' },
    );
    sup.start();
    await vi.runAllTimersAsync();
    const report = await sup.terminated;
    expect(report.reason).toBe('escalated');
    expect(report.escalation).toBeInstanceOf(SiblingOrphanedError);
    expect(report.escalation).toMatchObject({ child: 'a', orphans: ['stuck'] });
    expect(runs).toBe(1);
  });
});

describe('Supervisor stop', () => {
  it('starts children in order and stops them in reverse order; stop() is idempotent', async () => {
    const events: string[] = [];
    const traced = (name: string): ChildSpec =>
      child(name, {
        start: async (signal) => {
          events.push(`start ${name}`);
          await untilAborted(signal);
          events.push(`stop ${name}`);
        },
      });
    const sup = supervisor([traced('db'), traced('consumer'), traced('http')]);
    sup.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(sup.snapshot().children.every((c) => c.state === 'running')).toBe(true);

    const first = sup.stop();
    expect(sup.stop()).toBe(first);
    const report = await first;
    expect(events).toEqual([
      'start db',
      'start consumer',
      'start http',
      'stop http',
      'stop consumer',
      'stop db',
    ]);
    expect(report).toMatchObject({ reason: 'requested', clean: true, escalation: undefined });
    expect(report.snapshot.status).toBe('stopped');
    expect(report.snapshot.children.every((c) => c.state === 'stopped')).toBe(true);
  });

  it('reports a hung child orphaned exactly when its deadline passes, and the stop is unclean', async () => {
    const sup = supervisor([child('fine'), child('hung', { start: hangForever, shutdownDeadlineMs: 2_000 })]);
    sup.start();
    const startedAt = Date.now();
    let settled = false;
    const stopping = sup.stop().finally(() => {
      settled = true;
    });
    await vi.advanceTimersByTimeAsync(1_999);
    expect(settled).toBe(false);
    expect(childState(sup, 'hung')).toBe('stopping');
    await vi.advanceTimersByTimeAsync(1);
    const report = await stopping;
    expect(Date.now() - startedAt).toBe(2_000);
    expect(report.clean).toBe(false);
    expect(report.snapshot.children).toMatchObject([
      { name: 'fine', state: 'stopped' },
      { name: 'hung', state: 'orphaned' },
    ]);
  });

  it('treats a child rejecting with its abort reason as a clean stop, and any other rejection as failed', async () => {
    const sup = supervisor([
      child('polite', {
        start: (signal) =>
          new Promise((_resolve, reject) => {
            signal.addEventListener('abort', () => {
              reject(signal.reason as Error);
            });
          }),
      }),
      child('grumpy', {
        start: async (signal) => {
          await untilAborted(signal);
          throw new Error('flush failed');
        },
      }),
    ]);
    sup.start();
    const report = await sup.stop();
    expect(report.snapshot.children).toMatchObject([
      { name: 'polite', state: 'stopped', lastError: null },
      { name: 'grumpy', state: 'failed', lastError: { message: 'flush failed' } },
    ]);
    expect(report.clean).toBe(false);
  });

  it('cancels a pending restart on stop', async () => {
    let runs = 0;
    const sup = supervisor([
      child('crasher', {
        start: () => {
          runs += 1;
          return Promise.reject(new Error('crash'));
        },
      }),
    ]);
    sup.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(childState(sup, 'crasher')).toBe('restarting');
    await sup.stop();
    await vi.runAllTimersAsync();
    expect(runs).toBe(1);
    expect(childState(sup, 'crasher')).toBe('stopped');
  });
});

describe('Supervisor snapshot and options', () => {
  it('produces a snapshot that satisfies the published schema, with metadata redacted', () => {
    const sup = supervisor([
      child('consumer', { metadata: { topic: 'market.bars.v1', brokerUrl: 'kafka://app:s3cr3t@k:9092' } }),
    ]);
    expect(sup.snapshot().status).toBe('idle');
    sup.start();
    const snapshot = supervisorSnapshotSchema.parse(sup.snapshot());
    expect(snapshot.children[0]).toMatchObject({
      name: 'consumer',
      state: 'running',
      restartType: 'permanent',
      restarts: 0,
      lastError: null,
      startedAt: new Date(Date.now()).toISOString(),
      metadata: { topic: 'market.bars.v1', brokerUrl: 'kafka://app:***@k:9092' },
    });
  });

  it('counts a start function that throws synchronously as a failure', async () => {
    const sup = supervisor([
      child('anchor'),
      child('broken', {
        restart: 'temporary',
        start: () => {
          throw new Error('thrown before any promise');
        },
      }),
    ]);
    sup.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(sup.snapshot().children[1]).toMatchObject({
      state: 'failed',
      lastError: { message: 'thrown before any promise' },
    });
  });

  it('refuses duplicate child names and a second start()', () => {
    expect(() => supervisor([child('x'), child('x')])).toThrow(SupervisorConfigError);
    expect(() => supervisor([child('x', { shutdownDeadlineMs: 0 })])).toThrow(/shutdownDeadlineMs/);
    const sup = supervisor([child('x')]);
    sup.start();
    expect(() => {
      sup.start();
    }).toThrow(/already running/);
  });
});
