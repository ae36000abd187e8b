import { z } from 'zod';

/**
 * A child's lifecycle. `starting` → `running` while its promise is pending; on exit it becomes
 * `restarting` (a restart is scheduled), `stopped` (normal exit, not restarted) or `failed`
 * (failure, not restarted); `stopping` while the supervisor waits for it after aborting its
 * signal; `orphaned` when it did not settle within its shutdown deadline.
 */
export const CHILD_STATES = [
  'starting',
  'running',
  'restarting',
  'stopping',
  'stopped',
  'failed',
  'orphaned',
] as const;

export const RESTART_TYPES = ['permanent', 'transient', 'temporary'] as const;

export const STRATEGIES = ['one_for_one', 'rest_for_one'] as const;

/** `idle` before `start()`, `escalated` once the restart intensity was exceeded and every child stopped. */
export const SUPERVISOR_STATUSES = ['idle', 'running', 'stopping', 'stopped', 'escalated'] as const;

/** An error as it may leave the process: name and redacted message only, never a stack. */
export const errorSummarySchema = z.object({ name: z.string(), message: z.string() });
export type ErrorSummary = z.infer<typeof errorSummarySchema>;

export const childSnapshotSchema = z.object({
  name: z.string().min(1),
  state: z.enum(CHILD_STATES),
  restartType: z.enum(RESTART_TYPES),
  /** Restarts since the supervisor started (whole lifetime, not only the intensity period). */
  restarts: z.number().int().nonnegative(),
  /** The most recent failure, redacted; null when the child never failed. */
  lastError: errorSummarySchema.nullable(),
  /** When the current (or last) run of the child started, ISO-8601; null before the first start. */
  startedAt: z.iso.datetime().nullable(),
  /** Whatever the worker attached to the child spec (queue name, topic …), redacted. */
  metadata: z.record(z.string(), z.unknown()),
});
export type ChildSnapshot = z.infer<typeof childSnapshotSchema>;

export const supervisorSnapshotSchema = z.object({
  name: z.string().min(1),
  status: z.enum(SUPERVISOR_STATUSES),
  strategy: z.enum(STRATEGIES),
  startedAt: z.iso.datetime().nullable(),
  /** Why the supervisor escalated (redacted); null unless `status` is `escalated`. */
  escalation: errorSummarySchema.nullable(),
  children: z.array(childSnapshotSchema),
});
export type SupervisorSnapshot = z.infer<typeof supervisorSnapshotSchema>;
