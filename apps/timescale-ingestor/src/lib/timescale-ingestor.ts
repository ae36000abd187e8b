import { createHash } from 'node:crypto';
import { redactText, type SystemConfig } from '@backbone/config';
import { JOBS, QUEUES, parseJobPayload, type RunPlanJob } from '@backbone/contracts';
import { isBadInput, isRetriable, runIngest, type IngestResult } from '@backbone/ingest';
import { runInSpan, startBullmqConsumerSpan, type Logger } from '@backbone/telemetry';
import { DelayedError, Queue, UnrecoverableError, Worker, type Job, type JobsOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import type pg from 'pg';
import { PlanLocks } from './plan-lock.ts';
import { planRequests, recoveryLookbackDays, type Plan } from './plan-requests.ts';
import { PlanStates, type PlanState } from './plan-state.ts';
import { runIdFor } from './run-id.ts';

export interface TimescaleIngestorOptions {
  config: SystemConfig;
  pool: pg.Pool;
  /** The worker's connection: `maxRetriesPerRequest: null`, as BullMQ workers require. */
  workerRedis: Redis;
  /** Producer and bookkeeping connection: fails fast (small `maxRetriesPerRequest`). */
  redis: Redis;
  logger: Logger;
  now?: () => Date;
  /** How long a manual or recovery job waits when its plan is running elsewhere. Default 30 s. */
  busyRetryDelayMs?: number;
  /** How long a plan lock lives without being extended. Default 30 s. */
  planLockTtlMs?: number;
}

/** What a processed job returns (stored by BullMQ as the job's return value). */
export type PlanJobOutcome =
  | { plan: string; skipped: 'plan_running_elsewhere' | 'plan_stopped' }
  | {
      plan: string;
      runs: Pick<IngestResult, 'runId' | 'status' | 'inserted' | 'updated' | 'unchanged' | 'rejected'>[];
    };

const JOB_OPTIONS = {
  attempts: 3,
  backoff: { type: 'exponential', delay: 5_000 },
  removeOnComplete: { count: 200 },
  removeOnFail: { count: 1_000 },
} as const satisfies JobsOptions;

/** The BullMQ key prefix under the namespace; readiness and every producer use the same one. */
export function bullmqPrefix(keyNamespace: string): string {
  return `${keyNamespace}bull`;
}

/**
 * The timescale-ingestor: upserts one BullMQ job scheduler per configured plan and runs
 * `ingest/run-plan` jobs through the ingest pipeline. `start()` and `stop()` are the only entry
 * points; `main.ts` wires the clients in and the supervisor calls them.
 */
export class TimescaleIngestor {
  readonly queue: Queue;
  readonly #options: TimescaleIngestorOptions;
  readonly #plans: Map<string, Plan>;
  readonly #locks: PlanLocks;
  readonly #states: PlanStates;
  readonly #now: () => Date;
  /** Aborted when a stop runs out of time: in-flight runs give their job back to the queue. */
  readonly #release = new AbortController();
  #worker: Worker | undefined;
  #stopping: Promise<void> | undefined;

  constructor(options: TimescaleIngestorOptions) {
    this.#options = options;
    const { config } = options;
    this.#plans = new Map(config.ingest.plans.map((plan) => [plan.name, plan]));
    this.#now = options.now ?? (() => new Date());
    const prefix = bullmqPrefix(config.redis.keyNamespace);
    this.queue = new Queue(QUEUES.ingest, { connection: options.redis, prefix });
    this.#locks = new PlanLocks({
      redis: options.redis,
      keyNamespace: config.redis.keyNamespace,
      ...(options.planLockTtlMs === undefined ? {} : { ttlMs: options.planLockTtlMs }),
    });
    this.#states = new PlanStates({ redis: options.redis, keyNamespace: config.redis.keyNamespace });
  }

  /** Upserts the schedulers of the active plans, removes those of unknown plans, starts the worker. */
  async start(): Promise<void> {
    const { config, logger } = this.#options;
    for (const plan of this.#plans.values()) {
      const state = await this.#states.read(plan.name);
      if (state.status === 'stopped') {
        logger.warn(
          { plan: plan.name, ...state },
          'plan stopped after consecutive failures; not scheduling it',
        );
        await this.queue.removeJobScheduler(plan.name);
        continue;
      }
      await this.queue.upsertJobScheduler(
        plan.name,
        { every: plan.schedule.intervalSeconds * 1000, offset: jitterOffsetMs(plan) },
        {
          name: JOBS.runPlan,
          data: { planName: plan.name, reason: 'scheduled' } satisfies RunPlanJob,
          opts: JOB_OPTIONS,
        },
      );
    }
    for (const scheduler of await this.queue.getJobSchedulers(0, -1)) {
      if (!this.#plans.has(scheduler.key)) {
        logger.info(
          { scheduler: scheduler.key },
          'removing the job scheduler of a plan no longer configured',
        );
        await this.queue.removeJobScheduler(scheduler.key);
      }
    }
    this.#worker = new Worker(QUEUES.ingest, (job, token) => this.#process(job, token), {
      connection: this.#options.workerRedis,
      prefix: bullmqPrefix(config.redis.keyNamespace),
      concurrency: config.ingest.concurrency,
    });
    this.#worker.on('error', (error) => {
      logger.error({ err: error }, 'ingest worker error');
    });
    logger.info(
      { plans: [...this.#plans.keys()], concurrency: config.ingest.concurrency },
      'timescale-ingestor started',
    );
  }

  /** Every configured plan's state (shared by all instances via Redis), for `/readyz`. */
  async planStates(): Promise<Record<string, PlanState>> {
    const names = [...this.#plans.keys()];
    const states = await Promise.all(names.map((name) => this.#states.read(name)));
    return Object.fromEntries(names.map((name, index) => [name, states[index] as PlanState]));
  }

  /** True while the BullMQ worker is taking jobs. */
  isRunning(): boolean {
    return this.#worker?.isRunning() ?? false;
  }

  /**
   * Stops taking jobs and waits for the in-flight ones; past `deadlineMs` their runs are aborted
   * and each job is moved back to the queue (delayed, not failed), so another instance takes it
   * over. Idempotent.
   */
  stop(deadlineMs = this.#options.config.workers.timescaleIngestor.shutdownDeadlineMs): Promise<void> {
    this.#stopping ??= (async () => {
      const worker = this.#worker;
      const timer = setTimeout(
        () => {
          this.#release.abort(new Error('shutdown deadline reached'));
        },
        Math.max(0, deadlineMs - 1_000),
      );
      try {
        await worker?.close();
      } finally {
        clearTimeout(timer);
        await this.queue.close();
      }
    })();
    return this.#stopping;
  }

  async #process(job: Job, token: string | undefined): Promise<PlanJobOutcome> {
    return runInSpan(
      startBullmqConsumerSpan({ queue: QUEUES.ingest, job: job as Job<{ traceContext?: undefined }> }),
      () => this.#runJob(job, token),
    );
  }

  async #runJob(job: Job, token: string | undefined): Promise<PlanJobOutcome> {
    const { logger } = this.#options;
    let payload: RunPlanJob;
    try {
      payload = parseJobPayload(QUEUES.ingest, JOBS.runPlan, job.data);
    } catch (error) {
      throw new UnrecoverableError(`invalid ${JOBS.runPlan} job data: ${redactText(String(error))}`);
    }
    const plan = this.#plans.get(payload.planName);
    if (plan === undefined) throw new UnrecoverableError(`unknown plan "${payload.planName}"`);
    if ((await this.#states.read(plan.name)).status === 'stopped') {
      return { plan: plan.name, skipped: 'plan_stopped' };
    }
    const lock = await this.#locks.acquire(plan.name);
    if (lock === undefined) {
      if (payload.reason === 'scheduled') {
        // The schedule fires again; a second concurrent run would only duplicate work.
        logger.info(
          { plan: plan.name, jobId: job.id },
          'plan is running elsewhere; skipping this scheduled run',
        );
        return { plan: plan.name, skipped: 'plan_running_elsewhere' };
      }
      await job.moveToDelayed(Date.now() + (this.#options.busyRetryDelayMs ?? 30_000), token);
      throw new DelayedError();
    }
    try {
      // A lost lock aborts the run (recorded failed, lock_lost): another instance may hold the plan now.
      return await this.#runPlan(
        job,
        token,
        plan,
        payload,
        AbortSignal.any([this.#release.signal, lock.lost]),
      );
    } finally {
      // The run's own result or error is what the job reports; a lock that cannot be released
      // expires after its TTL.
      await lock.release().catch((error: unknown) => {
        logger.warn(
          { plan: plan.name, jobId: job.id, lock: lock.key, err: redactText(String(error)) },
          'could not release the plan lock; it expires after its TTL',
        );
      });
    }
  }

  async #runPlan(
    job: Job,
    token: string | undefined,
    plan: Plan,
    payload: RunPlanJob,
    signal: AbortSignal,
  ): Promise<PlanJobOutcome> {
    const { config, pool, logger } = this.#options;
    const now = this.#now();
    const results: IngestResult[] = [];
    try {
      const requests = planRequests(plan, payload, config, now);
      for (const [index, request] of requests.entries()) {
        const timeframe = plan.timeframes[index] ?? String(index);
        const result = await runIngest({ pool, config, now: this.#now, signal }, request, {
          runId: runIdFor(job.id ?? job.name, timeframe),
          plan: plan.name,
        });
        results.push(result);
      }
    } catch (error) {
      if (this.#release.signal.aborted) {
        // Shutdown ran out of time: hand the job back untouched instead of failing an attempt.
        await job.moveToDelayed(Date.now(), token);
        throw new DelayedError();
      }
      const retriable = !isBadInput(error) && isRetriable(error);
      const finalAttempt = !retriable || job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
      const message = redactText(error instanceof Error ? error.message : String(error));
      logger.error(
        { plan: plan.name, jobId: job.id, retriable, finalAttempt, err: message },
        'ingest plan run failed',
      );
      if (finalAttempt) await this.#onFinalFailure(plan, payload, message);
      if (!retriable) throw new UnrecoverableError(message);
      throw error;
    }
    await this.#states.recordSuccess(plan.name, this.#now());
    const missing = [...new Set(results.flatMap((result) => result.missingSymbols))].sort();
    if (missing.length > 0 && payload.reason !== 'recovery' && plan.provider !== 'csv') {
      await this.#enqueueRecovery(plan, missing, `missing symbols ${missing.join(',')}`);
    }
    return {
      plan: plan.name,
      runs: results.map(({ runId, status, inserted, updated, unchanged, rejected }) => ({
        runId,
        status,
        inserted,
        updated,
        unchanged,
        rejected,
      })),
    };
  }

  /** Counts the failure; stops the plan at its limit, otherwise re-plans it with a longer lookback. */
  async #onFinalFailure(plan: Plan, payload: RunPlanJob, message: string): Promise<void> {
    const { logger } = this.#options;
    const stopped = await this.#states.recordFailure(
      plan.name,
      message,
      this.#now(),
      plan.schedule.maxConsecutiveFailures,
    );
    if (stopped) {
      await this.queue.removeJobScheduler(plan.name);
      logger.error(
        { plan: plan.name, maxConsecutiveFailures: plan.schedule.maxConsecutiveFailures, lastError: message },
        'plan stopped: too many consecutive failed runs; its job scheduler is removed',
      );
      return;
    }
    if (payload.reason !== 'recovery' && plan.provider !== 'csv') {
      await this.#enqueueRecovery(plan, payload.symbols ?? plan.symbols, message);
    }
  }

  /** One recovery job per (plan, symbols): its deterministic id makes re-planning idempotent. */
  async #enqueueRecovery(plan: Plan, symbols: readonly string[], why: string): Promise<void> {
    const now = this.#now();
    const lookbackMs = recoveryLookbackDays(plan.lookbackDays) * 86_400_000;
    const data: RunPlanJob = {
      planName: plan.name,
      reason: 'recovery',
      symbols: [...symbols],
      window: { from: new Date(now.getTime() - lookbackMs).toISOString(), to: now.toISOString() },
    };
    const digest = createHash('sha1').update(symbols.join(',')).digest('hex').slice(0, 12);
    await this.queue.add(JOBS.runPlan, data, {
      ...JOB_OPTIONS,
      jobId: `recovery-${plan.name}-${digest}`,
      delay: JOB_OPTIONS.backoff.delay,
    });
    this.#options.logger.warn(
      { plan: plan.name, symbols, lookbackDays: recoveryLookbackDays(plan.lookbackDays), why },
      're-planned missing symbols with a longer lookback',
    );
  }
}

/**
 * The plan's jitter as a fixed offset in [0, jitterSeconds): derived from the plan name, so
 * every instance upserting the scheduler computes the same one (a random offset per instance
 * would make them rewrite each other's schedule) while different plans spread out.
 */
export function jitterOffsetMs(plan: Plan): number {
  const jitterMs = plan.schedule.jitterSeconds * 1000;
  if (jitterMs === 0) return 0;
  return createHash('sha1').update(plan.name).digest().readUInt32BE(0) % jitterMs;
}
