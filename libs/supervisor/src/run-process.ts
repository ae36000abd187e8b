import { summarizeError } from './error-summary.ts';
import { createJsonLinesLogger, type SupervisorLogger } from './logger.ts';
import type { ErrorSummary } from './snapshot.ts';
import type { StopReport, Supervisor } from './supervisor.ts';

/** Closes a client (pool, Redis, Kafka producer …) once every child has stopped. */
export interface ShutdownHook {
  /** Named in logs and in the outcome. */
  name: string;
  close: () => Promise<void>;
  /** Give up waiting after this long and count the hook as failed; defaults to `defaultHookDeadlineMs`. */
  deadlineMs?: number;
}

export type ShutdownSignal = 'SIGTERM' | 'SIGINT';

/**
 * The process events that end a run: the shutdown signals, a fault nobody caught
 * (`uncaughtException`, `unhandledRejection`) and `disconnect`, which a process started with an
 * IPC channel (the `start` launcher's workers) receives when its parent is gone, even SIGKILLed.
 */
export type ProcessEvent = ShutdownSignal | 'uncaughtException' | 'unhandledRejection' | 'disconnect';

/** Where process events come from: `process` in production, an EventEmitter in tests. */
export interface SignalSource {
  on(event: ProcessEvent, listener: (...args: unknown[]) => void): unknown;
  off(event: ProcessEvent, listener: (...args: unknown[]) => void): unknown;
  /**
   * `process.connected`: false once the IPC channel of a process started with one has closed,
   * undefined for a process started without one.
   */
  readonly connected?: boolean;
}

export interface RunProcessOptions {
  /** Run in this order after the supervisor stopped; each one runs even when an earlier one failed. */
  onShutdown?: readonly ShutdownHook[];
  defaultHookDeadlineMs?: number;
  logger?: SupervisorLogger;
  /** Ends the process; defaults to `process.exit`. */
  exit?: (code: number) => void;
  /** Signals, faults and the parent's `disconnect`; defaults to `process`. */
  signals?: SignalSource;
  /**
   * After the parent went away, exit 1 if the orderly shutdown has not ended within this long:
   * nobody is left to send the second signal that would otherwise force it. Default
   * {@link DEFAULT_PARENT_GONE_EXIT_DEADLINE_MS}.
   */
  parentGoneExitDeadlineMs?: number;
}

export interface HookResult {
  name: string;
  outcome: 'closed' | 'failed' | 'timed_out';
  error: ErrorSummary | null;
}

export interface ProcessOutcome {
  exitCode: number;
  /**
   * What ended the run: the first signal, the launcher that started this process going away
   * (`parent-gone`), a fault nobody caught, or the supervisor itself (escalation, completion).
   */
  trigger: ShutdownTrigger;
  /**
   * True when the process ended without waiting for the shutdown: a second signal, or the
   * parent gone and the shutdown past its deadline.
   */
  forced: boolean;
  /** Undefined only when `forced`. */
  report: StopReport | undefined;
  hooks: HookResult[];
}

/** A fault nobody caught: the process state is suspect, so it shuts down and exits 1. */
export type ProcessFault = 'uncaught-exception' | 'unhandled-rejection';
export type ShutdownTrigger = ShutdownSignal | 'parent-gone' | ProcessFault | 'escalated' | 'completed';

export const EXIT_CLEAN = 0;
export const EXIT_FAILED = 1;
/** 128 + signal number, the shell convention for "ended by a signal". */
export const EXIT_ON_SECOND_SIGNAL: Readonly<Record<ShutdownSignal, number>> = { SIGINT: 130, SIGTERM: 143 };
export const DEFAULT_HOOK_DEADLINE_MS = 5_000;
/** Above a worker's default 10 s shutdown deadline plus a few hooks that each wait out theirs. */
export const DEFAULT_PARENT_GONE_EXIT_DEADLINE_MS = 30_000;

const SIGNALS: readonly ShutdownSignal[] = ['SIGTERM', 'SIGINT'];

/**
 * The one owner of process shutdown. Starts the supervisor, and on the first SIGTERM/SIGINT, the
 * parent's IPC channel closing (the launcher is gone), an uncaught exception or unhandled
 * rejection anywhere in the process (logged with its stack), or when the supervisor escalates or
 * all its children are done, stops the children in reverse start order, runs the `onShutdown`
 * hooks, logs the outcome and ends the process: 0 clean; 1 when a child failed or was orphaned, a
 * hook failed, the supervisor escalated or a fault started the shutdown; 130 (SIGINT) / 143
 * (SIGTERM) at once on a second signal; 1 when the parent is gone and the shutdown outlives
 * `parentGoneExitDeadlineMs`.
 *
 * @example
 * await runSupervisedProcess(supervisor, {
 *   onShutdown: [{ name: 'redis', close: async () => { await redis.quit(); } }],
 * });
 */
export async function runSupervisedProcess(
  supervisor: Supervisor,
  options: RunProcessOptions = {},
): Promise<ProcessOutcome> {
  const logger = options.logger ?? createJsonLinesLogger();
  const exit = options.exit ?? ((code: number) => process.exit(code));
  const signals: SignalSource = options.signals ?? process;
  const exited = Promise.withResolvers<ProcessOutcome>();
  /** What asked for the shutdown first; the supervisor's own reason when nothing did. */
  let requested: Exclude<ShutdownTrigger, 'escalated' | 'completed'> | undefined;
  let faulted = false;
  let hasExited = false;
  let parentGoneDeadline: NodeJS.Timeout | undefined;

  const end = (outcome: ProcessOutcome): void => {
    if (hasExited) return;
    hasExited = true;
    clearTimeout(parentGoneDeadline);
    for (const signal of SIGNALS) signals.off(signal, onSignal);
    signals.off('disconnect', onParentGone);
    signals.off('uncaughtException', onUncaughtException);
    signals.off('unhandledRejection', onUnhandledRejection);
    exited.resolve(outcome);
    exit(outcome.exitCode);
  };

  const requestShutdown = (trigger: NonNullable<typeof requested>, fields: object, message: string): void => {
    if (requested !== undefined) return;
    requested = trigger;
    logger.info({ ...fields, trigger, supervisor: supervisor.name }, message);
    void supervisor.stop();
  };

  function onSignal(received: unknown): void {
    const signal: ShutdownSignal = received === 'SIGINT' ? 'SIGINT' : 'SIGTERM';
    if (requested === undefined) {
      requestShutdown(signal, { signal }, 'shutdown requested');
      return;
    }
    // The operator insists: do not wait for deadlines, say what was still running and leave.
    const exitCode = EXIT_ON_SECOND_SIGNAL[signal];
    logger.error(
      { signal, exitCode, snapshot: supervisor.snapshot() },
      'second signal during shutdown: exiting immediately',
    );
    end({ exitCode, trigger: requested, forced: true, report: undefined, hooks: [] });
  }

  // The launcher that started us with an IPC channel is gone (exited, or SIGKILLed by the OOM
  // killer): nobody will stop us any more and our port would block its next start. Nobody will
  // insist with a second signal either, so a shutdown that hangs is ended here.
  function onParentGone(): void {
    if (parentGoneDeadline !== undefined) return;
    requestShutdown('parent-gone', {}, 'parent process gone: shutting down');
    const deadlineMs = options.parentGoneExitDeadlineMs ?? DEFAULT_PARENT_GONE_EXIT_DEADLINE_MS;
    parentGoneDeadline = setTimeout(() => {
      logger.error(
        { deadlineMs, exitCode: EXIT_FAILED, snapshot: supervisor.snapshot() },
        'parent process gone and the shutdown did not end within its deadline: exiting',
      );
      end({ exitCode: EXIT_FAILED, trigger: 'parent-gone', forced: true, report: undefined, hooks: [] });
    }, deadlineMs).unref();
  }

  // A fault nobody caught leaves the process in a state nobody planned: never keep running half
  // alive. Shut down in order (hooks still close the clients) and exit 1 so the container restarts.
  const onFault = (fault: ProcessFault, error: unknown): void => {
    faulted = true;
    const message = fault === 'uncaught-exception' ? 'uncaught exception' : 'unhandled promise rejection';
    // `err` carries the stack (redacted); a second fault during the shutdown is logged too.
    logger.error({ fault, err: error, supervisor: supervisor.name }, `${message}: shutting down`);
    requestShutdown(fault, { fault }, 'shutdown requested');
  };
  function onUncaughtException(error: unknown): void {
    onFault('uncaught-exception', error);
  }
  function onUnhandledRejection(reason: unknown): void {
    onFault('unhandled-rejection', reason);
  }

  // Start first: if start() throws (started twice), no handler is left installed.
  supervisor.start();
  for (const signal of SIGNALS) signals.on(signal, onSignal);
  signals.on('disconnect', onParentGone);
  signals.on('uncaughtException', onUncaughtException);
  signals.on('unhandledRejection', onUnhandledRejection);
  // The channel closed while the process was still starting, before anyone listened for it.
  if (signals.connected === false) onParentGone();

  void supervisor.terminated.then(async (report) => {
    const hooks = await runShutdownHooks(
      options.onShutdown ?? [],
      options.defaultHookDeadlineMs ?? DEFAULT_HOOK_DEADLINE_MS,
      logger,
    );
    const failed = faulted || !report.clean || hooks.some((hook) => hook.outcome !== 'closed');
    const exitCode = failed ? EXIT_FAILED : EXIT_CLEAN;
    const trigger = requested ?? (report.reason === 'escalated' ? 'escalated' : 'completed');
    const fields = { exitCode, trigger, snapshot: report.snapshot, hooks };
    if (failed) logger.error(fields, 'process exiting after an unclean shutdown');
    else logger.info(fields, 'process exiting cleanly');
    end({ exitCode, trigger, forced: false, report, hooks });
  });

  return exited.promise;
}

/**
 * For a process whose start-up failed before its supervisor ran (e.g. its port is held by another
 * process): logs the error with its stack, closes what was opened so far through the hooks, and
 * exits 1, the same ending as a failed run, so nothing is left half started.
 *
 * @example
 * try { health = await startHealthServer({ port, readyz }); }
 * catch (error) { return exitAfterFailedStart(error, { logger, onShutdown: [{ name: 'pool', close: () => pool.end() }] }); }
 */
export async function exitAfterFailedStart(
  error: unknown,
  options: Omit<RunProcessOptions, 'signals'> = {},
): Promise<void> {
  const logger = options.logger ?? createJsonLinesLogger();
  const exit = options.exit ?? ((code: number) => process.exit(code));
  logger.error({ err: error }, 'process start-up failed');
  const hooks = await runShutdownHooks(
    options.onShutdown ?? [],
    options.defaultHookDeadlineMs ?? DEFAULT_HOOK_DEADLINE_MS,
    logger,
  );
  logger.error(
    { exitCode: EXIT_FAILED, trigger: 'start-up-failed', hooks },
    'process exiting after a failed start-up',
  );
  exit(EXIT_FAILED);
}

async function runShutdownHooks(
  hooks: readonly ShutdownHook[],
  defaultDeadlineMs: number,
  logger: SupervisorLogger,
): Promise<HookResult[]> {
  const results: HookResult[] = [];
  for (const hook of hooks) {
    const deadlineMs = hook.deadlineMs ?? defaultDeadlineMs;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<'deadline'>((resolve) => {
      timer = setTimeout(() => {
        resolve('deadline');
      }, deadlineMs);
    });
    let result: HookResult;
    try {
      // Promise.resolve().then() turns a synchronous throw in close() into a rejection.
      const closed = await Promise.race([Promise.resolve().then(hook.close), deadline]);
      result =
        closed === 'deadline'
          ? { name: hook.name, outcome: 'timed_out', error: null }
          : { name: hook.name, outcome: 'closed', error: null };
    } catch (error) {
      result = { name: hook.name, outcome: 'failed', error: summarizeError(error) };
    } finally {
      clearTimeout(timer);
    }
    if (result.outcome === 'closed') logger.info({ hook: hook.name }, 'shutdown hook closed');
    else logger.error({ hook: hook.name, deadlineMs, ...result }, 'shutdown hook did not close cleanly');
    results.push(result);
  }
  return results;
}
