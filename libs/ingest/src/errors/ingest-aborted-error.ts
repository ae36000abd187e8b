/** Why a run was stopped from outside and must end as `failed` (today: its plan lock was lost). */
export type IngestAbortReason = 'lock_lost';

/**
 * The abort reason (`AbortController.abort(new IngestAbortedError(…))`) that ends a run as
 * `failed`, its `ingest_runs.error` starting with the reason (`lock_lost: …`). Any other abort
 * (a shutdown running out of time) only interrupts the run: nothing is recorded and the job goes
 * back to the queue. A lost lock is different: another instance may be running the same plan
 * now, so this run stops before its next window and says why. Retriable: a later attempt that
 * holds the lock again can complete the plan.
 *
 * @example controller.abort(new IngestAbortedError('lock_lost', 'plan lock ns:ingest:plan-lock:fx was taken over'))
 */
export class IngestAbortedError extends Error {
  override readonly name = 'IngestAbortedError';
  readonly reason: IngestAbortReason;
  readonly retriable = true;

  constructor(reason: IngestAbortReason, detail: string) {
    super(`${reason}: ${detail}`);
    this.reason = reason;
  }
}

/** The reason a run was aborted with, when it must be recorded as failed; undefined for any other abort. */
export function abortedBy(signal: AbortSignal | undefined): IngestAbortedError | undefined {
  return signal?.aborted === true && signal.reason instanceof IngestAbortedError ? signal.reason : undefined;
}
