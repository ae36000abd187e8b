/**
 * The loader of a slice failed or ran out of time, and there was no value to serve instead
 * (no stale copy within the grace window).
 */
export class CacheLoadError extends Error {
  override readonly name = 'CacheLoadError';
  readonly dataset: string;
  readonly entry: string;
  /** True when the loader did not answer within the timeout. */
  readonly timedOut: boolean;
  readonly retriable = true;

  constructor(dataset: string, entry: string, options: { timedOut: boolean; cause?: unknown }) {
    super(options.timedOut ? `loading ${dataset} ${entry} timed out` : `loading ${dataset} ${entry} failed`, {
      cause: options.cause,
    });
    this.dataset = dataset;
    this.entry = entry;
    this.timedOut = options.timedOut;
  }
}
