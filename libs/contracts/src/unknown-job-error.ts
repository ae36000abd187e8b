/** A job name that the queue catalog does not list for the queue (a producer on another version). */
export class UnknownJobError extends Error {
  override readonly name = 'UnknownJobError';
  readonly queue: string;
  readonly job: string;
  /** Retrying cannot help: the job needs a worker that knows its contract. */
  readonly retriable = false;

  constructor(queue: string, job: string) {
    super(`queue ${queue} has no job named ${job}`);
    this.queue = queue;
    this.job = job;
  }
}
