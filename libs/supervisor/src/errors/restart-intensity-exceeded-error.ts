/**
 * A supervisor saw more restarts within its period than its intensity allows, so it stopped
 * every child instead of restarting again (OTP "reached_max_restart_intensity"). The process
 * then exits 1. `cause` is the exit reason of the child whose restart was refused.
 */
export class RestartIntensityExceededError extends Error {
  override readonly name = 'RestartIntensityExceededError';
  readonly supervisor: string;
  /** The child whose exit would have been restart number `maxRestarts + 1`. */
  readonly child: string;
  readonly maxRestarts: number;
  readonly periodMs: number;

  constructor(fields: {
    supervisor: string;
    child: string;
    maxRestarts: number;
    periodMs: number;
    cause: unknown;
  }) {
    super(
      `supervisor ${fields.supervisor}: child ${fields.child} exited again after ${fields.maxRestarts} restarts within ${fields.periodMs} ms; stopping every child`,
      { cause: fields.cause },
    );
    this.supervisor = fields.supervisor;
    this.child = fields.child;
    this.maxRestarts = fields.maxRestarts;
    this.periodMs = fields.periodMs;
  }
}
