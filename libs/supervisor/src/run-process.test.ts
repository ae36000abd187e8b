import { EventEmitter } from 'node:events';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { runSupervisedProcess, type ShutdownHook } from './run-process.ts';
import { Supervisor, type ChildSpec } from './supervisor.ts';
import { hangForever, recordingLogger, untilAborted } from './test-support/children.ts';

/** Stands in for `process` as the signal source; `emit('SIGTERM', 'SIGTERM')` delivers a signal. */
function fakeSignals(): EventEmitter {
  return new EventEmitter();
}

function setUp(children: ChildSpec[], onShutdown: ShutdownHook[] = []) {
  const signals = fakeSignals();
  const exit = vi.fn<(code: number) => void>();
  const { logger, entries } = recordingLogger();
  const supervisor = new Supervisor({
    name: 'worker',
    children,
    logger,
    random: () => 0.5,
    intensity: { maxRestarts: 2, periodMs: 10_000 },
  });
  const outcome = runSupervisedProcess(supervisor, { signals, exit, logger, onShutdown });
  return { signals, exit, entries, supervisor, outcome };
}

function tracedChild(name: string, events: string[]): ChildSpec {
  return {
    name,
    restart: 'permanent',
    start: async (signal) => {
      await untilAborted(signal);
      events.push(`child ${name} stopped`);
    },
  };
}

function tracedHook(name: string, events: string[], close?: () => Promise<void>): ShutdownHook {
  return {
    name,
    close: async () => {
      events.push(`hook ${name}`);
      await close?.();
    },
  };
}

beforeEach(() => {
  vi.useFakeTimers();
});

afterEach(() => {
  vi.useRealTimers();
});

describe('runSupervisedProcess', () => {
  it('on SIGTERM stops children in reverse order, then runs the hooks in order, and exits 0', async () => {
    const events: string[] = [];
    const { signals, exit, outcome } = setUp(
      [tracedChild('consumer', events), tracedChild('http', events)],
      [tracedHook('pool', events), tracedHook('redis', events)],
    );
    expect(signals.listenerCount('SIGTERM')).toBe(1);
    expect(signals.listenerCount('SIGINT')).toBe(1);

    signals.emit('SIGTERM', 'SIGTERM');
    const result = await outcome;

    expect(events).toEqual(['child http stopped', 'child consumer stopped', 'hook pool', 'hook redis']);
    expect(exit).toHaveBeenCalledExactlyOnceWith(0);
    expect(result).toMatchObject({ exitCode: 0, trigger: 'SIGTERM', forced: false });
    expect(result.hooks.map((h) => h.outcome)).toEqual(['closed', 'closed']);
    expect(signals.listenerCount('SIGTERM')).toBe(0); // nothing left installed
  });

  it('exits 1 and names the orphan when a hung child outlives its deadline', async () => {
    const { signals, exit, entries, outcome } = setUp([
      { name: 'stuck', restart: 'permanent', start: hangForever, shutdownDeadlineMs: 3_000 },
    ]);
    signals.emit('SIGINT', 'SIGINT');
    await vi.advanceTimersByTimeAsync(2_999);
    expect(exit).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(1);
    const result = await outcome;
    expect(exit).toHaveBeenCalledExactlyOnceWith(1);
    expect(result.report?.snapshot.children[0]?.state).toBe('orphaned');
    const last = entries.at(-1);
    expect(last?.message).toBe('process exiting after an unclean shutdown');
    expect(JSON.stringify(last?.fields)).toContain('"state":"orphaned"');
  });

  it.each([
    ['SIGTERM', 143],
    ['SIGINT', 130],
  ] as const)('exits %s-style (%i) at once on a second signal during shutdown', async (second, code) => {
    const { signals, exit, outcome } = setUp([
      { name: 'stuck', restart: 'permanent', start: hangForever, shutdownDeadlineMs: 60_000 },
    ]);
    signals.emit('SIGTERM', 'SIGTERM');
    await vi.advanceTimersByTimeAsync(10);
    signals.emit(second, second);
    const result = await outcome;
    expect(exit).toHaveBeenCalledExactlyOnceWith(code);
    expect(result).toMatchObject({ exitCode: code, forced: true, trigger: 'SIGTERM' });
    // The abandoned shutdown finishing later must not end the process a second time.
    await vi.runAllTimersAsync();
    expect(exit).toHaveBeenCalledTimes(1);
  });

  it('keeps running the remaining hooks when one fails or times out, and exits 1', async () => {
    const events: string[] = [];
    const { signals, exit, outcome } = setUp(
      [tracedChild('consumer', events)],
      [
        tracedHook('kafka', events, () => Promise.reject(new Error('disconnect failed: token=abc123'))),
        { ...tracedHook('pool', events, hangForever), deadlineMs: 1_000 },
        tracedHook('redis', events),
      ],
    );
    signals.emit('SIGTERM', 'SIGTERM');
    await vi.advanceTimersByTimeAsync(1_000);
    const result = await outcome;
    expect(events).toEqual(['child consumer stopped', 'hook kafka', 'hook pool', 'hook redis']);
    expect(result.hooks).toEqual([
      { name: 'kafka', outcome: 'failed', error: { name: 'Error', message: 'disconnect failed: token=***' } },
      { name: 'pool', outcome: 'timed_out', error: null },
      { name: 'redis', outcome: 'closed', error: null },
    ]);
    expect(exit).toHaveBeenCalledExactlyOnceWith(1);
  });

  it('exits 1 without any signal when the supervisor escalates, after running the hooks', async () => {
    const events: string[] = [];
    const { exit, outcome } = setUp(
      [
        tracedChild('steady', events),
        { name: 'crasher', restart: 'permanent', start: () => Promise.reject(new Error('boom')) },
      ],
      [tracedHook('redis', events)],
    );
    await vi.runAllTimersAsync();
    const result = await outcome;
    expect(result).toMatchObject({ exitCode: 1, trigger: 'escalated', forced: false });
    expect(result.report?.snapshot.status).toBe('escalated');
    expect(events).toEqual(['child steady stopped', 'hook redis']);
    expect(exit).toHaveBeenCalledExactlyOnceWith(1);
  });

  it('exits 0 when every child finished normally and none is restarted', async () => {
    const { exit, outcome } = setUp([
      { name: 'one-shot', restart: 'transient', start: () => Promise.resolve() },
    ]);
    const result = await outcome;
    expect(result).toMatchObject({ exitCode: 0, trigger: 'completed' });
    expect(exit).toHaveBeenCalledExactlyOnceWith(0);
  });

  it('finding 4.6: a fault during the shutdown is logged and changes nothing else: one orderly shutdown, exit 1', async () => {
    const events: string[] = [];
    const { signals, exit, entries, outcome } = setUp(
      [tracedChild('consumer', events)],
      [tracedHook('pool', events)],
    );
    signals.emit('unhandledRejection', new Error('first'));
    signals.emit('uncaughtException', new Error('second'));
    const result = await outcome;
    expect(result).toMatchObject({ exitCode: 1, trigger: 'unhandled-rejection', forced: false });
    expect(events).toEqual(['child consumer stopped', 'hook pool']);
    expect(exit).toHaveBeenCalledExactlyOnceWith(1);
    expect(entries.filter((e) => e.fields.fault !== undefined && e.level === 'error')).toHaveLength(2);
  });

  it('finding 4.5: the parent going away (IPC disconnect) is an orderly shutdown with exit 0', async () => {
    const events: string[] = [];
    const { signals, exit, outcome } = setUp([tracedChild('consumer', events)], [tracedHook('pool', events)]);
    signals.emit('disconnect');
    expect(await outcome).toMatchObject({ exitCode: 0, trigger: 'parent-gone', forced: false });
    expect(events).toEqual(['child consumer stopped', 'hook pool']);
    expect(exit).toHaveBeenCalledExactlyOnceWith(0);
    // Every listener is removed once the process has ended.
    expect(signals.eventNames()).toEqual([]);
  });

  it('finding 4.5: a process whose parent was gone before it listened shuts down as soon as it runs', async () => {
    const events: string[] = [];
    const signals = Object.assign(fakeSignals(), { connected: false });
    const exit = vi.fn<(code: number) => void>();
    const { logger } = recordingLogger();
    const supervisor = new Supervisor({
      name: 'worker',
      children: [tracedChild('consumer', events)],
      logger,
    });
    const outcome = runSupervisedProcess(supervisor, { signals, exit, logger });
    expect(await outcome).toMatchObject({ exitCode: 0, trigger: 'parent-gone', forced: false });
    expect(events).toEqual(['child consumer stopped']);
  });

  it('finding 4.5: with the parent gone, a shutdown that hangs past its deadline ends the process with 1', async () => {
    const { logger, entries } = recordingLogger();
    const signals = fakeSignals();
    const exit = vi.fn<(code: number) => void>();
    const supervisor = new Supervisor({ name: 'worker', children: [tracedChild('consumer', [])], logger });
    // A hook that never settles and has no deadline of its own to speak of.
    const stuck: ShutdownHook = {
      name: 'stuck',
      close: () => new Promise(() => undefined),
      deadlineMs: 3_600_000,
    };
    const outcome = runSupervisedProcess(supervisor, {
      signals,
      exit,
      logger,
      onShutdown: [stuck],
      parentGoneExitDeadlineMs: 20_000,
    });
    signals.emit('disconnect');
    await vi.advanceTimersByTimeAsync(19_999);
    expect(exit).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(1);
    expect(await outcome).toMatchObject({ exitCode: 1, trigger: 'parent-gone', forced: true });
    expect(exit).toHaveBeenCalledExactlyOnceWith(1);
    expect(entries.some((e) => e.message.includes('did not end within its deadline'))).toBe(true);
  });
});
