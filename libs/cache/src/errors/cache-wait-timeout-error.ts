/**
 * Another process held the loader lock of a slice for longer than a reader may wait, and no
 * value appeared. Retriable: the holder may still finish, or its lock expires.
 */
export class CacheWaitTimeoutError extends Error {
  override readonly name = 'CacheWaitTimeoutError';
  readonly dataset: string;
  readonly entry: string;
  readonly waitedMs: number;
  readonly retriable = true;

  constructor(dataset: string, entry: string, waitedMs: number) {
    super(`waited ${waitedMs} ms for another loader of ${dataset} ${entry}; no value appeared`);
    this.dataset = dataset;
    this.entry = entry;
    this.waitedMs = waitedMs;
  }
}
