import { randomUUID } from 'node:crypto';
import { IngestAbortedError } from '@backbone/ingest';
import type { Redis } from 'ioredis';

// Compare-and-delete / compare-and-extend: only the holder's token may touch the lock.
const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;
const EXTEND = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end`;

/** A held plan lock; `release()` is idempotent. */
export interface HeldPlanLock {
  readonly key: string;
  /**
   * Aborted, with an {@link IngestAbortedError} (`lock_lost`) as its reason, once the lock is
   * lost: the key no longer holds this token (deleted, expired, taken over), or no extension has
   * been confirmed for a whole TTL (Redis unreachable), so it may have expired. Pass it to the run
   * the lock protects: the run stops instead of overlapping another instance's run of the plan.
   */
  readonly lost: AbortSignal;
  /** False once the lock was lost or released. */
  isHeld(): boolean;
  /** Deletes the key if it still holds this token. Rejects when Redis cannot be reached. */
  release(): Promise<void>;
}

/**
 * One Redis lock per plan (`<ns>ingest:plan-lock:<plan>`), so no two runs of a plan overlap
 * across any number of worker instances. BullMQ alone does not guarantee that: a job scheduler
 * adds the next job when the current one starts, so a run longer than the interval overlaps the
 * next one, and manual or recovery jobs of the same plan have their own ids. The lock has a TTL
 * and is extended every third of it while the run lives, so a killed worker frees it after at
 * most `ttlMs`.
 *
 * @example const lock = await planLocks.acquire('fx-daily'); if (lock) try { await run(lock.lost) } finally { await lock.release(); }
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
    // Measured before the command is sent: the key cannot expire before sentAt + ttl.
    let confirmedUntil = Date.now() + this.#ttlMs;
    const acquired = await this.#redis.set(key, token, 'PX', this.#ttlMs, 'NX');
    if (acquired !== 'OK') return undefined;
    const lost = new AbortController();
    let released = false;
    let releasing: Promise<void> | undefined;
    const lose = (why: string): void => {
      if (released || lost.signal.aborted) return;
      clearInterval(timer);
      lost.abort(new IngestAbortedError('lock_lost', `plan lock ${key} ${why}`));
    };
    const timer = setInterval(
      () => {
        if (Date.now() >= confirmedUntil) {
          lose(`was not extended for ${this.#ttlMs} ms (Redis unreachable) and may have expired`);
          return;
        }
        const sentAt = Date.now();
        this.#redis
          .eval(EXTEND, 1, key, token, String(this.#ttlMs))
          .then((extended) => {
            if (extended === 1) confirmedUntil = sentAt + this.#ttlMs;
            else lose('is no longer held by this run (deleted, expired or taken over)');
          })
          .catch(() => {
            // Redis unreachable: the next tick tries again; past `confirmedUntil` the lock counts as lost.
          });
      },
      Math.max(100, Math.floor(this.#ttlMs / 3)),
    );
    timer.unref();
    return {
      key,
      lost: lost.signal,
      isHeld: () => !released && !lost.signal.aborted,
      release: () =>
        (releasing ??= (async () => {
          released = true;
          clearInterval(timer);
          await this.#redis.eval(RELEASE, 1, key, token);
        })()),
    };
  }
}
