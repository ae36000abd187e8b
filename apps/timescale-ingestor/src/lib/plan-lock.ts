import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';

// Compare-and-delete / compare-and-extend: only the holder's token may touch the lock.
const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;
const EXTEND = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end`;

/** A held plan lock; `release()` is idempotent. */
export interface HeldPlanLock {
  readonly key: string;
  /** False once the lock was lost (expired while this process could not reach Redis). */
  isHeld(): boolean;
  release(): Promise<void>;
}

/**
 * One Redis lock per plan (`<ns>ingest:plan-lock:<plan>`), so no two runs of a plan overlap
 * across any number of worker instances. BullMQ alone does not guarantee that: a job scheduler
 * adds the next job when the current one starts, so a run longer than the interval overlaps the
 * next one, and manual or recovery jobs of the same plan have their own ids. The lock has a TTL
 * and is extended while the run lives, so a killed worker frees it after at most `ttlMs`.
 *
 * @example const lock = await planLocks.acquire('fx-daily'); if (lock) try { … } finally { await lock.release(); }
 */
export class PlanLocks {
  readonly #redis: Redis;
  readonly #keyNamespace: string;
  readonly #ttlMs: number;

  constructor(options: { redis: Redis; keyNamespace: string; ttlMs?: number }) {
    this.#redis = options.redis;
    this.#keyNamespace = options.keyNamespace;
    this.#ttlMs = options.ttlMs ?? 30_000;
  }

  key(plan: string): string {
    return `${this.#keyNamespace}ingest:plan-lock:${plan}`;
  }

  /** The lock, or undefined when another run of the plan holds it. */
  async acquire(plan: string): Promise<HeldPlanLock | undefined> {
    const key = this.key(plan);
    const token = randomUUID();
    const acquired = await this.#redis.set(key, token, 'PX', this.#ttlMs, 'NX');
    if (acquired !== 'OK') return undefined;
    let held = true;
    let released: Promise<void> | undefined;
    const timer = setInterval(
      () => {
        this.#redis
          .eval(EXTEND, 1, key, token, String(this.#ttlMs))
          .then((extended) => {
            if (extended !== 1) held = false;
          })
          .catch(() => {
            // Redis unreachable: the next tick tries again; the TTL decides if the lock survives.
          });
      },
      Math.max(100, Math.floor(this.#ttlMs / 3)),
    );
    timer.unref();
    return {
      key,
      isHeld: () => held,
      release: () =>
        (released ??= (async () => {
          clearInterval(timer);
          held = false;
          await this.#redis.eval(RELEASE, 1, key, token);
        })()),
    };
  }
}
