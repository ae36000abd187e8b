import type { Redis } from 'ioredis';

/** What the worker remembers about a plan between runs; readiness reads the same hash. */
export interface PlanState {
  status: 'active' | 'stopped';
  consecutiveFailures: number;
  lastError: string | null;
  lastFailureAt: string | null;
  lastSuccessAt: string | null;
  stoppedAt: string | null;
}

/** `<ns>ingest:plans:<plan>`: a hash with the fields of {@link PlanState}. */
export function planStateKey(keyNamespace: string, plan: string): string {
  return `${keyNamespace}ingest:plans:${plan}`;
}

/**
 * Consecutive-failure bookkeeping per plan in Redis (shared by every worker instance). A plan
 * that fails `maxConsecutiveFailures` times in a row is marked `stopped`; the caller removes its
 * job scheduler. Every failed run is also an `ingest_runs` row with status `failed`.
 */
export class PlanStates {
  readonly #redis: Redis;
  readonly #keyNamespace: string;

  constructor(options: { redis: Redis; keyNamespace: string }) {
    this.#redis = options.redis;
    this.#keyNamespace = options.keyNamespace;
  }

  async read(plan: string): Promise<PlanState> {
    const fields = await this.#redis.hgetall(planStateKey(this.#keyNamespace, plan));
    return {
      status: fields['status'] === 'stopped' ? 'stopped' : 'active',
      consecutiveFailures: Number(fields['consecutiveFailures'] ?? 0),
      lastError: fields['lastError'] ?? null,
      lastFailureAt: fields['lastFailureAt'] ?? null,
      lastSuccessAt: fields['lastSuccessAt'] ?? null,
      stoppedAt: fields['stoppedAt'] ?? null,
    };
  }

  async recordSuccess(plan: string, at: Date): Promise<void> {
    await this.#redis.hset(planStateKey(this.#keyNamespace, plan), {
      consecutiveFailures: 0,
      lastSuccessAt: at.toISOString(),
    });
  }

  /** Counts a failed run; returns true when this failure stops the plan. */
  async recordFailure(
    plan: string,
    error: string,
    at: Date,
    maxConsecutiveFailures: number,
  ): Promise<boolean> {
    const key = planStateKey(this.#keyNamespace, plan);
    const [[, count]] = (await this.#redis
      .multi()
      .hincrby(key, 'consecutiveFailures', 1)
      .hset(key, { lastError: error.slice(0, 1000), lastFailureAt: at.toISOString() })
      .exec()) as [[Error | null, number]];
    if (count < maxConsecutiveFailures) return false;
    await this.#redis.hset(key, { status: 'stopped', stoppedAt: at.toISOString() });
    return true;
  }
}
