/** How long the supervisor waits before restarting a child that exited. */
export interface BackoffPolicy {
  /** Delay before the first restart within the intensity period. */
  initialMs: number;
  /** Each further restart of the same child within the period multiplies the delay by this. */
  factor: number;
  /** Upper bound of the un-jittered delay. */
  maxMs: number;
  /** Fraction of the delay added or removed at random (0.2 = ±20 %), so instances do not restart in lockstep. */
  jitter: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { initialMs: 100, factor: 2, maxMs: 30_000, jitter: 0.2 };

/**
 * The delay before restart number `attempt` (1-based): `initialMs * factor^(attempt-1)`, capped at
 * `maxMs`, then spread uniformly over ±`jitter` of itself using `random()` in [0, 1).
 *
 * @example restartDelayMs(3, DEFAULT_BACKOFF, () => 0.5) // 400
 */
export function restartDelayMs(attempt: number, policy: BackoffPolicy, random: () => number): number {
  const exponent = Math.max(0, attempt - 1);
  const base = Math.min(policy.maxMs, policy.initialMs * policy.factor ** exponent);
  const spread = base * policy.jitter;
  return Math.max(0, Math.round(base - spread + random() * 2 * spread));
}
