import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { combine, formatAge, formatCount, type CheckOutcome, type Evidence, type Finding } from '../check.ts';
import type { CheckDefinition } from '../run-check.ts';
import { grade, type ReadinessRules } from '../rules.ts';

/** A queue to watch and the job schedulers (ids) that must exist on it. */
export interface WatchedQueue {
  name: string;
  expectedSchedulers: string[];
  /** The worker that upserts the schedulers, named in the advice. */
  schedulerOwner?: string;
}

export interface BullmqProbeInput {
  redis: Redis;
  /** BullMQ key prefix (see {@link bullmqPrefix}). */
  prefix: string;
  queues: readonly WatchedQueue[];
  rules: ReadinessRules;
  now?: () => Date;
}

/**
 * The BullMQ key prefix under the configured namespace: `backbone:` → `backbone:bull`, so queue
 * keys are `backbone:bull:<queue>:…`. Every producer and worker must use the same prefix.
 *
 * @example new Queue(QUEUES.ingest, { connection, prefix: bullmqPrefix(config.redis.keyNamespace) })
 */
export function bullmqPrefix(keyNamespace: string): string {
  return `${keyNamespace}bull`;
}

/** BullMQ checks (one per queue) and the Queue handles they share; `close()` releases them. */
export interface BullmqChecks {
  checks: CheckDefinition[];
  close(): Promise<void>;
}

/**
 * One check per queue: waiting / active / delayed / failed / paused counts, stalled candidates,
 * the age of the oldest waiting job, and every expected job scheduler with its next run.
 *
 * @example const bull = bullmqChecks({ redis, prefix: bullmqPrefix(ns), queues: [{ name: 'ingest', expectedSchedulers: ['fx-1m'] }], rules });
 */
export function bullmqChecks(input: BullmqProbeInput): BullmqChecks {
  const now = input.now ?? (() => new Date());
  const queues = input.queues.map((watched) => ({
    watched,
    // The Queue reuses the given client and never closes it (the reporter owns it).
    queue: new Queue(watched.name, { connection: input.redis, prefix: input.prefix }),
  }));
  return {
    checks: queues.map(({ watched, queue }) => ({
      name: `bullmq.${watched.name}`,
      component: 'bullmq',
      run: () => probeQueue(input, watched, queue, now()),
    })),
    async close() {
      await Promise.allSettled(queues.map(({ queue }) => queue.close()));
    },
  };
}

async function probeQueue(
  input: BullmqProbeInput,
  watched: WatchedQueue,
  queue: Queue,
  now: Date,
): Promise<CheckOutcome> {
  const { rules } = input;
  const counts = await queue.getJobCounts(
    'waiting',
    'active',
    'delayed',
    'failed',
    'prioritized',
    'completed',
  );
  const stalledCandidates = await input.redis.scard(`${input.prefix}:${watched.name}:stalled`);
  const paused = await queue.isPaused();
  const [oldest] = await queue.getJobs(['wait'], 0, 0, true);
  const oldestWaitSeconds = oldest === undefined ? 0 : Math.max(0, (now.getTime() - oldest.timestamp) / 1000);
  const schedulers = await queue.getJobSchedulers(0, -1, true);
  const byId = new Map(schedulers.map((scheduler) => [scheduler.key, scheduler]));
  const findings: Finding[] = [];
  // A scheduler's next job is created when its current one is taken: a next run this far in the
  // past means no worker took the due job, so the schedule's run was missed.
  const missedAfterMs = rules.missedScheduleGraceSeconds * 1000;
  for (const id of watched.expectedSchedulers) {
    const scheduler = byId.get(id);
    if (scheduler === undefined) {
      findings.push({
        status: 'fail',
        reason: 'scheduler_missing',
        message: `BullMQ queue ${watched.name} has no job scheduler ${id} although the config plans it; start the ${watched.schedulerOwner ?? 'worker that owns it'}, which upserts it.`,
      });
    } else if (scheduler.next !== undefined && now.getTime() - scheduler.next > missedAfterMs) {
      findings.push({
        status: 'fail',
        reason: 'schedule_missed',
        message: `Job scheduler ${id} on BullMQ queue ${watched.name} missed its run due at ${new Date(scheduler.next).toISOString()} (${formatAge((now.getTime() - scheduler.next) / 1000)} ago, grace ${formatAge(rules.missedScheduleGraceSeconds)}); no worker took the job: start the ${watched.schedulerOwner ?? 'worker that owns it'}.`,
      });
    }
  }
  const waitStatus = grade(oldestWaitSeconds, rules.queueWaitSeconds);
  if (waitStatus !== 'ok') {
    findings.push({
      status: waitStatus,
      reason: 'queue_backlog',
      message: `The oldest waiting job on ${watched.name} has waited ${formatAge(oldestWaitSeconds)} (${waitStatus} threshold ${formatAge(rules.queueWaitSeconds[waitStatus])}), ${formatCount(counts.waiting ?? 0)} jobs waiting; check that its workers are running.`,
    });
  }
  if ((counts.failed ?? 0) > 0) {
    findings.push({
      status: 'warn',
      reason: 'jobs_failed',
      message: `BullMQ queue ${watched.name} holds ${formatCount(counts.failed ?? 0)} failed jobs; inspect their failedReason and retry or remove them.`,
    });
  }
  if (paused) {
    findings.push({
      status: 'warn',
      reason: 'queue_paused',
      message: `BullMQ queue ${watched.name} is paused; no job runs until it is resumed.`,
    });
  }
  const evidence: Evidence = {
    queue: watched.name,
    counts,
    paused,
    stalledCandidates,
    oldestWaitingJobAgeSeconds: Math.round(oldestWaitSeconds),
    schedulers: schedulers.map((scheduler) => ({
      id: scheduler.key,
      every: scheduler.every ?? null,
      pattern: scheduler.pattern ?? null,
      nextRun: scheduler.next === undefined ? null : new Date(scheduler.next).toISOString(),
    })),
  };
  return combine(findings, evidence);
}
