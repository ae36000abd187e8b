import { redact } from '@backbone/config';
import { DEFAULT_BACKOFF, restartDelayMs, type BackoffPolicy } from './backoff.ts';
import { RestartIntensityExceededError } from './errors/restart-intensity-exceeded-error.ts';
import { SiblingOrphanedError } from './errors/sibling-orphaned-error.ts';
import { SupervisorConfigError } from './errors/supervisor-config-error.ts';
import { summarizeError } from './error-summary.ts';
import { createJsonLinesLogger, type SupervisorLogger } from './logger.ts';
import type {
  CHILD_STATES,
  RESTART_TYPES,
  STRATEGIES,
  SUPERVISOR_STATUSES,
  SupervisorSnapshot,
} from './snapshot.ts';

export type ChildState = (typeof CHILD_STATES)[number];
/** `permanent`: always restarted; `transient`: restarted only after a failure; `temporary`: never. */
export type RestartType = (typeof RESTART_TYPES)[number];
/** `one_for_one`: restart only the child that exited; `rest_for_one`: also every child started after it. */
export type Strategy = (typeof STRATEGIES)[number];
export type SupervisorStatus = (typeof SUPERVISOR_STATUSES)[number];

/**
 * One supervised task. It runs while the promise returned by `start` is pending; resolving is a
 * normal exit, rejecting a failure. When the supervisor stops it, `signal` is aborted and the
 * child has `shutdownDeadlineMs` to settle.
 */
export interface ChildSpec {
  /** Unique within the supervisor; appears in logs, snapshots and heartbeats. */
  name: string;
  start: (signal: AbortSignal) => Promise<void>;
  restart: RestartType;
  /** How long a stop waits for the child to settle before reporting it `orphaned`. */
  shutdownDeadlineMs?: number;
  /** Published in snapshots and heartbeats (queue, topic, …); redacted. */
  metadata?: Record<string, unknown>;
}

/** More than `maxRestarts` restarts within `periodMs` (across all children) escalates. */
export interface RestartIntensity {
  maxRestarts: number;
  periodMs: number;
}

export interface SupervisorOptions {
  name: string;
  /** Started in this order, stopped in the reverse order. */
  children: readonly ChildSpec[];
  strategy?: Strategy;
  intensity?: RestartIntensity;
  backoff?: Partial<BackoffPolicy>;
  /** Used for children without their own `shutdownDeadlineMs`. */
  defaultShutdownDeadlineMs?: number;
  logger?: SupervisorLogger;
  /** Milliseconds since the epoch; injectable so tests control the intensity window. */
  now?: () => number;
  /** Uniform in [0, 1); injectable so tests control the backoff jitter. */
  random?: () => number;
}

/** Why the supervisor stopped: `stop()` was called, the intensity was exceeded, or every child exited for good. */
export type StopReason = 'requested' | 'escalated' | 'completed';

export interface StopReport {
  reason: StopReason;
  /** The escalation error (unredacted: for logging through a redacting logger only). */
  escalation: Error | undefined;
  /** No escalation, and no child ended `failed` or `orphaned`. */
  clean: boolean;
  snapshot: SupervisorSnapshot;
}

export const DEFAULT_INTENSITY: RestartIntensity = { maxRestarts: 5, periodMs: 60_000 };
export const DEFAULT_SHUTDOWN_DEADLINE_MS = 5_000;

type Exit = { kind: 'normal' } | { kind: 'failure'; error: unknown };

interface Run {
  readonly controller: AbortController;
  readonly exit: Promise<Exit>;
}

interface ChildRecord {
  readonly spec: ChildSpec;
  readonly deadlineMs: number;
  state: ChildState;
  restarts: number;
  /** Restart times of this child within the intensity period: the backoff attempt number. */
  recentRestarts: number[];
  lastError: unknown;
  startedAt: number | undefined;
  run: Run | undefined;
  restartTimer: ReturnType<typeof setTimeout> | undefined;
  stopping: Promise<void> | undefined;
}

/**
 * Erlang/OTP-style supervisor of named async children.
 *
 * @example
 * const supervisor = new Supervisor({
 *   name: 'cache-warmer',
 *   children: [{ name: 'warm-queue', restart: 'permanent', start: (signal) => worker.run(signal) }],
 * });
 * supervisor.start();
 * const report = await supervisor.stop();
 */
export class Supervisor {
  readonly name: string;
  readonly strategy: Strategy;
  /** Resolves once the supervisor has stopped, whatever the reason (stop(), escalation, completion). */
  readonly terminated: Promise<StopReport>;

  readonly #children: ChildRecord[];
  readonly #intensity: RestartIntensity;
  readonly #backoff: BackoffPolicy;
  readonly #logger: SupervisorLogger;
  readonly #now: () => number;
  readonly #random: () => number;
  readonly #resolveTerminated: (report: StopReport) => void;
  #status: SupervisorStatus = 'idle';
  #startedAt: number | undefined;
  #restartTimes: number[] = [];
  #escalation: Error | undefined;
  #stopping: Promise<StopReport> | undefined;

  constructor(options: SupervisorOptions) {
    this.name = options.name;
    this.strategy = options.strategy ?? 'one_for_one';
    this.#intensity = options.intensity ?? DEFAULT_INTENSITY;
    this.#backoff = { ...DEFAULT_BACKOFF, ...options.backoff };
    this.#logger = options.logger ?? createJsonLinesLogger();
    this.#now = options.now ?? Date.now;
    this.#random = options.random ?? Math.random;
    const defaultDeadlineMs = options.defaultShutdownDeadlineMs ?? DEFAULT_SHUTDOWN_DEADLINE_MS;
    validateOptions(options, this.#intensity, this.#backoff, defaultDeadlineMs);
    this.#children = options.children.map((spec) => ({
      spec,
      deadlineMs: spec.shutdownDeadlineMs ?? defaultDeadlineMs,
      state: 'stopped',
      restarts: 0,
      recentRestarts: [],
      lastError: undefined,
      startedAt: undefined,
      run: undefined,
      restartTimer: undefined,
      stopping: undefined,
    }));
    const { promise, resolve } = Promise.withResolvers<StopReport>();
    this.terminated = promise;
    this.#resolveTerminated = resolve;
  }

  get status(): SupervisorStatus {
    return this.#status;
  }

  /** Starts every child in order. A supervisor starts once; a stopped one is not restarted. */
  start(): void {
    if (this.#status !== 'idle') {
      throw new SupervisorConfigError('start()', `supervisor ${this.name} is already ${this.#status}`);
    }
    this.#status = 'running';
    this.#startedAt = this.#now();
    this.#logger.info(
      { supervisor: this.name, strategy: this.strategy, children: this.#children.map((c) => c.spec.name) },
      'supervisor starting children',
    );
    for (const child of this.#children) this.#launch(child);
  }

  /**
   * Stops every child in reverse start order, each within its deadline. Idempotent: every call
   * returns the same promise (like BullMQ's `Worker.close()`).
   */
  stop(): Promise<StopReport> {
    return this.#terminate('requested', undefined);
  }

  /** Every child's state, restart count, last (redacted) error, start time and metadata. */
  snapshot(): SupervisorSnapshot {
    return {
      name: this.name,
      status: this.#status,
      strategy: this.strategy,
      startedAt: isoOrNull(this.#startedAt),
      escalation: this.#escalation === undefined ? null : summarizeError(this.#escalation),
      children: this.#children.map((child) => ({
        name: child.spec.name,
        state: child.state,
        restartType: child.spec.restart,
        restarts: child.restarts,
        lastError: child.lastError === undefined ? null : summarizeError(child.lastError),
        startedAt: isoOrNull(child.startedAt),
        metadata: redact(child.spec.metadata ?? {}),
      })),
    };
  }

  #launch(child: ChildRecord): void {
    const controller = new AbortController();
    child.state = 'starting';
    child.startedAt = this.#now();
    let exit: Promise<Exit>;
    try {
      exit = child.spec.start(controller.signal).then(
        (): Exit => ({ kind: 'normal' }),
        (error: unknown): Exit => ({ kind: 'failure', error }),
      );
    } catch (error) {
      // A start function that throws synchronously failed just like one that rejects.
      exit = Promise.resolve({ kind: 'failure', error });
    }
    const run: Run = { controller, exit };
    child.run = run;
    child.state = 'running';
    this.#logger.info(
      { supervisor: this.name, child: child.spec.name, restarts: child.restarts },
      'child started',
    );
    void exit.then((result) => {
      this.#onExit(child, run, result);
    });
  }

  #onExit(child: ChildRecord, run: Run, exit: Exit): void {
    // A stop in progress (or one that gave up on this run) owns the outcome of this run.
    if (child.run !== run || child.state === 'stopping') return;
    child.run = undefined;
    const fields = { supervisor: this.name, child: child.spec.name, restartType: child.spec.restart };
    if (exit.kind === 'failure') {
      child.lastError = exit.error;
      this.#logger.error({ ...fields, err: exit.error }, 'child failed');
    } else {
      this.#logger.info(fields, 'child exited normally');
    }
    const restart =
      child.spec.restart === 'permanent' || (child.spec.restart === 'transient' && exit.kind === 'failure');
    if (this.#status !== 'running' || !restart) {
      child.state = exit.kind === 'failure' ? 'failed' : 'stopped';
      if (this.#status === 'running') this.#completeIfAllExited();
      return;
    }

    const now = this.#now();
    const windowStart = now - this.#intensity.periodMs;
    this.#restartTimes = [...this.#restartTimes.filter((t) => t > windowStart), now];
    if (this.#restartTimes.length > this.#intensity.maxRestarts) {
      child.state = exit.kind === 'failure' ? 'failed' : 'stopped';
      const error = new RestartIntensityExceededError({
        supervisor: this.name,
        child: child.spec.name,
        maxRestarts: this.#intensity.maxRestarts,
        periodMs: this.#intensity.periodMs,
        cause: exit.kind === 'failure' ? exit.error : new Error('normal exit of a permanent child'),
      });
      void this.#terminate('escalated', error);
      return;
    }
    child.recentRestarts = [...child.recentRestarts.filter((t) => t > windowStart), now];
    const delayMs = restartDelayMs(child.recentRestarts.length, this.#backoff, this.#random);
    child.state = 'restarting';
    this.#logger.warn(
      { ...fields, attempt: child.recentRestarts.length, delayMs, strategy: this.strategy },
      'child restart scheduled',
    );
    if (this.strategy === 'rest_for_one') {
      void this.#restartWithLaterSiblings(child, delayMs, exit);
    } else {
      this.#scheduleRestart([child], delayMs);
    }
  }

  async #restartWithLaterSiblings(child: ChildRecord, delayMs: number, exit: Exit): Promise<void> {
    const index = this.#children.indexOf(child);
    const later = this.#children
      .slice(index + 1)
      .filter((sibling) => ['starting', 'running', 'restarting', 'stopping'].includes(sibling.state));
    // Later siblings depend on the failed one: stop them as a shutdown would, last started first.
    for (const sibling of later.toReversed()) await this.#stopChild(sibling);
    if (this.#status !== 'running') return; // a shutdown began meanwhile and owns every child now
    const orphans = later.filter((sibling) => sibling.state === 'orphaned').map((s) => s.spec.name);
    if (orphans.length > 0) {
      const cause = exit.kind === 'failure' ? exit.error : undefined;
      void this.#terminate(
        'escalated',
        new SiblingOrphanedError({ supervisor: this.name, child: child.spec.name, orphans, cause }),
      );
      return;
    }
    for (const sibling of later) sibling.state = 'restarting';
    this.#scheduleRestart([child, ...later], delayMs);
  }

  /** After the delay, starts every member still waiting (in start order); the first member holds the timer. */
  #scheduleRestart(group: readonly ChildRecord[], delayMs: number): void {
    const [lead] = group;
    if (lead === undefined) return;
    lead.restartTimer = setTimeout(() => {
      lead.restartTimer = undefined;
      if (this.#status !== 'running') return;
      for (const member of group) {
        // A member another group took over (or a stop cancelled) is no longer `restarting`.
        if (member.state !== 'restarting') continue;
        member.restarts += 1;
        this.#launch(member);
      }
    }, delayMs);
  }

  #completeIfAllExited(): void {
    const done = this.#children.every((c) => ['stopped', 'failed', 'orphaned'].includes(c.state));
    if (done) void this.#terminate('completed', undefined);
  }

  #terminate(reason: StopReason, escalation: Error | undefined): Promise<StopReport> {
    this.#stopping ??= this.#shutdown(reason, escalation);
    return this.#stopping;
  }

  async #shutdown(reason: StopReason, escalation: Error | undefined): Promise<StopReport> {
    const wasRunning = this.#status === 'running';
    this.#status = 'stopping';
    this.#escalation = escalation;
    const fields = { supervisor: this.name, reason };
    if (escalation === undefined) this.#logger.info(fields, 'supervisor stopping children');
    else this.#logger.error({ ...fields, err: escalation }, 'supervisor escalating: stopping every child');
    if (wasRunning) {
      for (const child of this.#children.toReversed()) {
        // Keep going when one stop misbehaves: every other child still gets its stop and deadline.
        try {
          await this.#stopChild(child);
        } catch (error) {
          child.state = 'failed';
          child.lastError = error;
          this.#logger.error({ ...fields, child: child.spec.name, err: error }, 'stopping child failed');
        }
      }
    }
    this.#status = escalation === undefined ? 'stopped' : 'escalated';
    const snapshot = this.snapshot();
    const clean =
      escalation === undefined &&
      snapshot.children.every((c) => c.state !== 'failed' && c.state !== 'orphaned');
    const report: StopReport = { reason, escalation, clean, snapshot };
    this.#logger.info({ ...fields, clean }, 'supervisor stopped');
    this.#resolveTerminated(report);
    return report;
  }

  #stopChild(child: ChildRecord): Promise<void> {
    if (child.restartTimer !== undefined) {
      clearTimeout(child.restartTimer);
      child.restartTimer = undefined;
    }
    if (child.state === 'restarting') {
      child.state = 'stopped';
      return Promise.resolve();
    }
    const run = child.run;
    if (run === undefined) return Promise.resolve(); // already stopped, failed or orphaned
    child.stopping ??= this.#abortAndAwait(child, run).finally(() => {
      child.stopping = undefined;
    });
    return child.stopping;
  }

  async #abortAndAwait(child: ChildRecord, run: Run): Promise<void> {
    child.state = 'stopping';
    const fields = { supervisor: this.name, child: child.spec.name, deadlineMs: child.deadlineMs };
    const began = this.#now();
    run.controller.abort();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<'deadline'>((resolve) => {
      timer = setTimeout(() => {
        resolve('deadline');
      }, child.deadlineMs);
    });
    const outcome = await Promise.race([run.exit, deadline]);
    clearTimeout(timer);
    child.run = undefined;
    if (outcome === 'deadline') {
      // A promise cannot be killed: the child may still hold resources, so say so loudly.
      child.state = 'orphaned';
      this.#logger.error(fields, 'child did not settle within its shutdown deadline: orphaned');
      void run.exit.then((late) => {
        this.#logger.warn({ ...fields, exit: late.kind }, 'orphaned child settled after its deadline');
      });
      return;
    }
    const tookMs = this.#now() - began;
    if (outcome.kind === 'failure' && !isAbortReason(outcome.error, run.controller.signal)) {
      child.state = 'failed';
      child.lastError = outcome.error;
      this.#logger.error({ ...fields, tookMs, err: outcome.error }, 'child failed while stopping');
      return;
    }
    child.state = 'stopped';
    this.#logger.info({ ...fields, tookMs }, 'child stopped');
  }
}

/** A child that rejects with its own abort reason (or any AbortError) stopped as asked. */
function isAbortReason(error: unknown, signal: AbortSignal): boolean {
  return error === signal.reason || (error instanceof Error && error.name === 'AbortError');
}

function isoOrNull(epochMs: number | undefined): string | null {
  return epochMs === undefined ? null : new Date(epochMs).toISOString();
}

function validateOptions(
  options: SupervisorOptions,
  intensity: RestartIntensity,
  backoff: BackoffPolicy,
  defaultDeadlineMs: number,
): void {
  if (options.name.trim() === '') throw new SupervisorConfigError('name', 'must not be empty');
  const seen = new Set<string>();
  options.children.forEach((spec, i) => {
    if (spec.name.trim() === '') throw new SupervisorConfigError(`children[${i}].name`, 'must not be empty');
    if (seen.has(spec.name)) {
      throw new SupervisorConfigError(`children[${i}].name`, `duplicate child name ${spec.name}`);
    }
    seen.add(spec.name);
    if (spec.shutdownDeadlineMs !== undefined) {
      assertPositive(`children[${i}].shutdownDeadlineMs`, spec.shutdownDeadlineMs);
    }
  });
  assertPositive('defaultShutdownDeadlineMs', defaultDeadlineMs);
  if (!Number.isInteger(intensity.maxRestarts) || intensity.maxRestarts < 0) {
    throw new SupervisorConfigError('intensity.maxRestarts', 'must be a non-negative integer');
  }
  assertPositive('intensity.periodMs', intensity.periodMs);
  assertPositive('backoff.initialMs', backoff.initialMs);
  assertPositive('backoff.maxMs', backoff.maxMs);
  if (!(backoff.factor >= 1)) throw new SupervisorConfigError('backoff.factor', 'must be at least 1');
  if (!(backoff.jitter >= 0 && backoff.jitter < 1)) {
    throw new SupervisorConfigError('backoff.jitter', 'must be in [0, 1)');
  }
}

function assertPositive(option: string, value: number): void {
  if (!(Number.isFinite(value) && value > 0)) {
    throw new SupervisorConfigError(option, `must be a positive number, got ${value}`);
  }
}
