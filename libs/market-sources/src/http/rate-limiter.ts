import { setTimeout as sleep } from 'node:timers/promises';

/** Spaces calls at least `minIntervalMs` apart, in arrival order. */
export interface RateLimiter {
  /** Resolves when the caller may send its request; rejects when `signal` aborts first. */
  take(signal?: AbortSignal): Promise<void>;
}

/**
 * A per-provider rate limit as a minimum interval between request starts (a token bucket of
 * size one): providers publish limits per minute, and an even spacing never bursts past them.
 * Callers queue in arrival order and each waits from the ACTUAL start of the one before, so a
 * timer that fires late (a busy event loop) never lets two requests through close together.
 *
 * @example const limiter = createRateLimiter(500); await limiter.take(signal);
 */
export function createRateLimiter(
  minIntervalMs: number,
  now: () => number = () => performance.now(),
): RateLimiter {
  let lastStart = Number.NEGATIVE_INFINITY;
  let queue: Promise<void> = Promise.resolve();
  return {
    take(signal?: AbortSignal): Promise<void> {
      const turn = queue.then(async () => {
        signal?.throwIfAborted();
        // Timers may fire a fraction of a millisecond early: wait until the interval has truly passed.
        for (
          let wait = lastStart + minIntervalMs - now();
          wait > 0;
          wait = lastStart + minIntervalMs - now()
        ) {
          await sleep(Math.ceil(wait), undefined, signal === undefined ? {} : { signal });
        }
        lastStart = now();
      });
      // A caller that gave up (aborted) must not hold up the ones behind it.
      queue = turn.catch(() => undefined);
      return turn;
    },
  };
}
