import { setTimeout as sleep } from 'node:timers/promises';

/** Spaces calls at least `minIntervalMs` apart, in arrival order. */
export interface RateLimiter {
  /** Resolves when the caller may send its request; rejects when `signal` aborts first. */
  take(signal?: AbortSignal): Promise<void>;
}

/**
 * A per-provider rate limit as a minimum interval between request starts (a token bucket of
 * size one): providers publish limits per minute, and an even spacing never bursts past them.
 *
 * @example const limiter = createRateLimiter(500); await limiter.take(signal);
 */
export function createRateLimiter(minIntervalMs: number, now: () => number = Date.now): RateLimiter {
  let nextSlot = 0;
  return {
    async take(signal?: AbortSignal): Promise<void> {
      const current = now();
      // Reserve the slot synchronously so concurrent callers queue behind each other.
      const slot = Math.max(current, nextSlot);
      nextSlot = slot + minIntervalMs;
      if (slot > current) await sleep(slot - current, undefined, signal === undefined ? {} : { signal });
      else signal?.throwIfAborted();
    },
  };
}
