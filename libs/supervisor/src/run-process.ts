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

/** Where signals come from: `process` in production, an EventEmitter in tests. */
export interface SignalSource {
  on(signal: ShutdownSignal, listener: (signal: NodeJS.Signals) => void): unknown;
  off(signal: ShutdownSignal, listener: (signal: NodeJS.Signals) => void): unknown;
}

export interface RunProcessOptions {
  /** Run in this order after the supervisor stopped; each one runs even when an earlier one failed. */
  onShutdown?: readonly ShutdownHook[];
  defaultHookDeadlineMs?: number;
  logger?: SupervisorLogger;
  /** Ends the process; defaults to `process.exit`. */
  exit?: (code: number) => void;
  /** Defaults to `process`. */
  signals?: SignalSource;
}

export interface HookResult {
  name: string;
  outcome: 'closed' | 'failed' | 'timed_out';
  error: ErrorSummary | null;
}

export interface ProcessOutcome {
  exitCode: number;
  /** What ended the run: the first signal, or the supervisor itself (escalation, completion). */
  trigger: ShutdownSignal | 'escalated' | 'completed';
  /** True when a second signal ended the process without waiting for the shutdown. */
  forced: boolean;
  /** Undefined only when `forced`. */
  report: StopReport | undefined;
  hooks: HookResult[];
}

export const EXIT_CLEAN = 0;
export const EXIT_FAILED = 1;
/** 128 + signal number, the shell convention for "ended by a signal". */
export const EXIT_ON_SECOND_SIGNAL: Readonly<Record<ShutdownSignal, number>> = { SIGINT: 130, SIGTERM: 143 };
export const DEFAULT_HOOK_DEADLINE_MS = 5_000;

const SIGNALS: readonly ShutdownSignal[] = ['SIGTERM', 'SIGINT'];

/**
 * The one owner of process shutdown. Starts the supervisor, and on the first SIGTERM/SIGINT (or
 * when the supervisor escalates or all its children are done) stops the children in reverse start
 * order, runs the `onShutdown` hooks, logs the outcome and ends the process:
 * 0 clean; 1 when a child failed or was orphaned, a hook failed or the supervisor escalated;
 * 130 (SIGINT) / 143 (SIGTERM) at once on a second signal.
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
  let firstSignal: ShutdownSignal | undefined;
  let hasExited = false;

  const end = (outcome: ProcessOutcome): void => {
    if (hasExited) return;
    hasExited = true;
    for (const signal of SIGNALS) signals.off(signal, onSignal);
    exited.resolve(outcome);
    exit(outcome.exitCode);
  };

  function onSignal(received: NodeJS.Signals): void {
    const signal: ShutdownSignal = received === 'SIGINT' ? 'SIGINT' : 'SIGTERM';
    if (firstSignal === undefined) {
      firstSignal = signal;
      logger.info({ signal, supervisor: supervisor.name }, 'shutdown requested');
      void supervisor.stop();
      return;
    }
    // The operator insists: do not wait for deadlines, say what was still running and leave.
    const exitCode = EXIT_ON_SECOND_SIGNAL[signal];
    logger.error(
      { signal, exitCode, snapshot: supervisor.snapshot() },
      'second signal during shutdown: exiting immediately',
    );
    end({ exitCode, trigger: firstSignal, forced: true, report: undefined, hooks: [] });
  }

  // Start first: if start() throws (started twice), no handler is left installed.
  supervisor.start();
  for (const signal of SIGNALS) signals.on(signal, onSignal);

  void supervisor.terminated.then(async (report) => {
    const hooks = await runShutdownHooks(
      options.onShutdown ?? [],
      options.defaultHookDeadlineMs ?? DEFAULT_HOOK_DEADLINE_MS,
      logger,
    );
    const failed = !report.clean || hooks.some((hook) => hook.outcome !== 'closed');
    const exitCode = failed ? EXIT_FAILED : EXIT_CLEAN;
    const trigger = firstSignal ?? (report.reason === 'escalated' ? 'escalated' : 'completed');
    const fields = { exitCode, trigger, snapshot: report.snapshot, hooks };
    if (failed) logger.error(fields, 'process exiting after an unclean shutdown');
    else logger.info(fields, 'process exiting cleanly');
    end({ exitCode, trigger, forced: false, report, hooks });
  });

  return exited.promise;
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
