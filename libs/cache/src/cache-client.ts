import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Timeframe } from '@backbone/contracts';
import { metrics, type Counter, type Histogram, type Meter } from '@opentelemetry/api';
import type { Redis } from 'ioredis';
import type { DatasetDefinition, DatasetRegistry, LoadedSlice } from './datasets.ts';
import { parseEnvelope, type CacheEnvelope } from './envelope.ts';
import { CacheLoadError } from './errors/cache-load-error.ts';
import { CacheWaitTimeoutError } from './errors/cache-wait-timeout-error.ts';
import { InvalidCacheRequestError } from './errors/invalid-cache-request-error.ts';
import {
  CacheKeys,
  checkDataset,
  entriesOfSymbol,
  entryOf,
  type CacheRequest,
  type DatasetName,
} from './keys.ts';
import { withCacheScripts, type CacheScripts } from './scripts.ts';
import type { StatCounter } from './stats.ts';

/** TTL, capacity and grace: the `redis.cache` section of the config fits. */
export interface CachePolicy {
  ttlSeconds: number;
  maxKeysPerDataset: number;
  staleGraceSeconds: number;
}

export interface CacheClientOptions {
  /** A client made by `createCacheRedis` (bounded command timeout, no offline queue). */
  redis: Redis;
  /** `redis.keyNamespace`, with its separator (`backbone:`). */
  keyNamespace: string;
  datasets: DatasetRegistry;
  policy: CachePolicy;
  /** How long a loader may hold the per-key lock (default 5 s); it expires if the loader dies. */
  lockTtlMs?: number;
  /** How long a reader waits for another process's loader before giving up (default 2 × lockTtlMs). */
  waitTimeoutMs?: number;
  /** Bound on one database load, also on the degraded path (default 3 s). */
  loadTimeoutMs?: number;
  /** How often the in-process counters are added to the shared Redis hash (default 1 s). */
  statsFlushIntervalMs?: number;
  /** OpenTelemetry meter; the global one named `@backbone/cache` by default. */
  meter?: Meter;
  /** Epoch ms; injectable for tests of freshness. */
  now?: () => number;
}

/** Where a returned value came from. */
export type CacheSource = 'cache' | 'loaded' | 'peer' | 'stale' | 'database';

/** A value returned by {@link CacheClient.get}; the envelope is frozen (shared between callers). */
export interface CacheResult<T = unknown> {
  envelope: CacheEnvelope<T>;
  /**
   * `cache`: a fresh hit; `loaded`: this call loaded it; `peer`: another loader (process) did;
   * `stale`: the loader failed and a value within the grace window was served; `database`:
   * Redis was unreachable and the value was read straight from the database.
   */
  source: CacheSource;
}

/** What {@link CacheClient.warm} did. */
export interface WarmResult {
  outcome: 'written' | 'peer-loading' | 'superseded';
  versionTag: string;
  /** LRU evictions the write caused. */
  evicted: number;
}

/** What {@link CacheClient.invalidate} did. */
export interface InvalidateResult {
  /** Values of the superseded versions deleted by the bump (0 when none was cached). */
  deleted: number;
}

/** `healthy` only while Redis answers; `degraded` whenever reads fall back to the database. */
export type CacheStatus = 'healthy' | 'degraded';

const DEFAULT_LOCK_TTL_MS = 5_000;
/** Minimum time between two LRU touches of one entry by one client. */
const TOUCH_INTERVAL_MS = 1_000;
/** Decoded values remembered per value key, so identical bytes are not parsed and validated twice. */
const DECODED_MEMO_SIZE = 1_024;
const DEFAULT_LOAD_TIMEOUT_MS = 3_000;
const MAX_WARM_ATTEMPTS = 3;

/**
 * The read-through client of the hot cache. A hit costs one Redis round trip (one script reads
 * the versions, the value and refreshes the LRU score). A miss loads the slice once across all
 * processes: in-process single-flight, then a short Redis lock (SET NX PX); the others poll for
 * the fresh value within a bounded wait. A failed load serves a stale copy within the grace
 * window. When Redis is unreachable every read goes to the database with a bounded timeout and
 * {@link status} says `degraded`.
 *
 * @example
 * const cache = new CacheClient({ redis, keyNamespace: 'backbone:', datasets, policy: config.redis.cache });
 * const { envelope } = await cache.get({ dataset: 'latest-bar', symbol: 'EURUSD', timeframe: '1m' });
 */
export class CacheClient {
  readonly keys: CacheKeys;
  private readonly redis: Redis & CacheScripts;
  private readonly datasets: DatasetRegistry;
  private readonly policy: CachePolicy;
  private readonly lockTtlMs: number;
  private readonly waitTimeoutMs: number;
  private readonly loadTimeoutMs: number;
  private readonly now: () => number;
  private readonly inFlight = new Map<string, Promise<CacheResult>>();
  private readonly pending = new Map<string, number>();
  private readonly lastTouch = new Map<string, number>();
  private readonly decoded = new Map<string, { raw: string; envelope: CacheEnvelope }>();
  private readonly flushTimer: NodeJS.Timeout;
  private readonly lookups: Counter;
  private readonly loadDuration: Histogram;
  private lastRedisFailure: unknown;
  private closing: Promise<void> | undefined;

  constructor(options: CacheClientOptions) {
    this.redis = withCacheScripts(options.redis);
    this.keys = new CacheKeys(options.keyNamespace);
    this.datasets = options.datasets;
    this.policy = options.policy;
    this.lockTtlMs = options.lockTtlMs ?? DEFAULT_LOCK_TTL_MS;
    this.waitTimeoutMs = options.waitTimeoutMs ?? this.lockTtlMs * 2;
    this.loadTimeoutMs = options.loadTimeoutMs ?? DEFAULT_LOAD_TIMEOUT_MS;
    this.now = options.now ?? Date.now;
    const meter = options.meter ?? metrics.getMeter('@backbone/cache');
    this.lookups = meter.createCounter('backbone.cache.lookups', {
      description: 'Cache reads by dataset and result (hit, miss, stale, corrupt, degraded).',
    });
    this.loadDuration = meter.createHistogram('backbone.cache.load.duration', {
      description: 'Database loads of hot slices by dataset and result.',
      unit: 's',
    });
    this.flushTimer = setInterval(
      () => void this.flushStats().catch(() => undefined),
      options.statsFlushIntervalMs ?? 1_000,
    );
    this.flushTimer.unref();
  }

  /** `degraded` while Redis is not connected or its last command failed. */
  status(): CacheStatus {
    return this.redis.status === 'ready' && this.lastRedisFailure === undefined ? 'healthy' : 'degraded';
  }

  /** Reads a slice through the cache (see the class comment). */
  async get<T = unknown>(request: CacheRequest): Promise<CacheResult<T>> {
    const definition = this.definition(request.dataset);
    const entry = entryOf(request);
    if (this.redis.status !== 'ready')
      return (await this.readDegraded(definition, request, entry)) as CacheResult<T>;
    let read: [string, string | null];
    try {
      read = await this.read(request, entry);
    } catch (error) {
      this.lastRedisFailure = error;
      return (await this.readDegraded(definition, request, entry)) as CacheResult<T>;
    }
    const [versionTag, raw] = read;
    const cached = await this.decode(definition, entry, versionTag, raw).catch(() => undefined);
    if (cached !== undefined && cached.freshUntil >= this.now()) {
      this.count(request.dataset, 'hits', 'hit');
      return { envelope: cached, source: 'cache' } as CacheResult<T>;
    }
    this.count(request.dataset, 'misses', 'miss');
    const flight = this.singleFlight(this.keys.value(request.dataset, versionTag, entry), () =>
      this.loadThroughLock(definition, request, entry, versionTag, cached),
    );
    try {
      return (await flight) as CacheResult<T>;
    } catch (error) {
      if (error instanceof CacheLoadError || error instanceof CacheWaitTimeoutError) throw error;
      // Anything else came from Redis (lock, poll): Redis failed mid-miss, so read degraded.
      this.lastRedisFailure = error;
      return (await this.readDegraded(definition, request, entry)) as CacheResult<T>;
    }
  }

  /**
   * The value under the current version if there is a valid one (fresh or stale), without
   * loading and without counting: for probes and operators that must not disturb the cache.
   *
   * @example const envelope = await cache.peek({ dataset: 'latest-bar', symbol: 'EURUSD', timeframe: '1m' });
   */
  async peek<T = unknown>(request: CacheRequest): Promise<CacheEnvelope<T> | undefined> {
    const definition = this.definition(request.dataset);
    const entry = entryOf(request);
    const [, raw] = await this.read(request, entry);
    if (raw === null) return undefined;
    return parseEnvelope(raw, definition.name, entry, definition.schema) as CacheEnvelope<T> | undefined;
  }

  /**
   * Loads a slice and writes it under the current version, unless another loader holds its lock.
   * A load that an invalidation overtook is discarded and repeated, so the value written always
   * reflects every invalidation made before the write.
   *
   * @example await cache.warm({ dataset: 'recent-bars', symbol: 'EURUSD', timeframe: '1m' });
   */
  async warm(request: CacheRequest): Promise<WarmResult> {
    const definition = this.definition(request.dataset);
    const entry = entryOf(request);
    let result: WarmResult | undefined;
    for (let attempt = 0; attempt < MAX_WARM_ATTEMPTS; attempt++) {
      const [versionTag] = await this.read(request, entry);
      const lock = this.keys.lock(request.dataset, versionTag, entry);
      const token = randomUUID();
      if ((await this.redis.set(lock, token, 'PX', this.lockTtlMs, 'NX')) !== 'OK') {
        return { outcome: 'peer-loading', versionTag, evicted: 0 };
      }
      try {
        const slice = await this.load(definition, request, entry);
        const [written, tag, evicted] = await this.write(request, entry, versionTag, slice);
        result = { outcome: written === 1 ? 'written' : 'superseded', versionTag: tag, evicted };
        if (written === 1) return result;
      } finally {
        await this.release(lock, token);
      }
    }
    return result ?? { outcome: 'superseded', versionTag: '', evicted: 0 };
  }

  /**
   * Invalidates for every process at once: bumps the version of one slice (`symbol` and
   * `timeframe`), of every timeframe of a symbol (`symbol` alone), or of the whole dataset, and
   * deletes the values those versions superseded in the same script, so that memory never holds
   * unreachable values until their TTL. Readers then look under the new keys.
   *
   * @example await cache.invalidate('latest-bar', 'EURUSD', '1h'); // { deleted: 1 } when it was cached
   */
  async invalidate(dataset: DatasetName, symbol?: string, timeframe?: Timeframe): Promise<InvalidateResult> {
    let entries: string[] = [];
    if (symbol !== undefined) {
      entries =
        timeframe === undefined
          ? entriesOfSymbol(dataset, symbol)
          : [entryOf({ dataset, symbol, timeframe })];
    } else if (timeframe !== undefined) {
      throw new InvalidCacheRequestError('timeframe', 'needs a symbol to invalidate', timeframe);
    } else {
      checkDataset(dataset);
    }
    const deleted = await this.redis.cacheInvalidate(
      this.keys.versions,
      this.keys.lru(dataset),
      this.keys.prefix,
      dataset,
      ...entries,
    );
    return { deleted };
  }

  /** The entries (`<symbol>[:<timeframe>]`) a dataset currently tracks, most recently used first. */
  async trackedEntries(dataset: DatasetName): Promise<string[]> {
    return this.redis.zrevrange(this.keys.lru(dataset), 0, -1);
  }

  /** Adds the counts gathered since the last flush to the shared Redis hash. */
  async flushStats(): Promise<void> {
    if (this.pending.size === 0 || this.redis.status !== 'ready') return;
    const counts = [...this.pending];
    this.pending.clear();
    const pipeline = this.redis.pipeline();
    for (const [field, n] of counts) pipeline.hincrby(this.keys.stats, field, n);
    try {
      const results = await pipeline.exec();
      const failure = results?.find(([error]) => error !== null)?.[0];
      if (failure) throw failure;
    } catch (error) {
      // Put the counts back: they are flushed with the next batch instead of being lost.
      for (const [field, n] of counts) this.pending.set(field, (this.pending.get(field) ?? 0) + n);
      throw error;
    }
  }

  /** Stops the flush timer and flushes the last counts. Does not close the Redis client. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      clearInterval(this.flushTimer);
      await this.flushStats().catch(() => undefined);
    })();
    return this.closing;
  }

  private definition(dataset: DatasetName): DatasetDefinition {
    const definition = this.datasets[dataset];
    if (definition === undefined) {
      throw new InvalidCacheRequestError('dataset', 'is not enabled in redis.cache.datasets', dataset);
    }
    return definition;
  }

  private async read(request: CacheRequest, entry: string): Promise<[string, string | null]> {
    const lruKey = this.keys.lru(request.dataset);
    const touchKey = `${lruKey}|${entry}`;
    const now = Date.now();
    const touch = now - (this.lastTouch.get(touchKey) ?? 0) >= TOUCH_INTERVAL_MS;
    if (touch) remember(this.lastTouch, touchKey, now);
    const result = await this.redis.cacheRead(
      this.keys.versions,
      lruKey,
      this.keys.prefix,
      request.dataset,
      entry,
      touch ? '1' : '0',
    );
    this.lastRedisFailure = undefined;
    return result;
  }

  /** Decodes a raw value; a corrupt one is deleted (and counted) so that it gets reloaded. */
  private async decode(
    definition: DatasetDefinition,
    entry: string,
    versionTag: string,
    raw: string | null,
  ): Promise<CacheEnvelope | undefined> {
    if (raw === null) return undefined;
    const valueKey = this.keys.value(definition.name, versionTag, entry);
    // Values are immutable per key version until rewritten; the same bytes decode the same way.
    const memo = this.decoded.get(valueKey);
    if (memo?.raw === raw) return memo.envelope;
    const envelope = parseEnvelope(raw, definition.name, entry, definition.schema);
    if (envelope !== undefined) {
      // Shared by every caller that reads these bytes, so nobody may change it.
      deepFreeze(envelope);
      remember(this.decoded, valueKey, { raw, envelope });
      return envelope;
    }
    this.count(definition.name, 'corrupt', 'corrupt');
    await this.redis.unlink(valueKey);
    return undefined;
  }

  private async loadThroughLock(
    definition: DatasetDefinition,
    request: CacheRequest,
    entry: string,
    startTag: string,
    stale: CacheEnvelope | undefined,
  ): Promise<CacheResult> {
    const started = this.now();
    let versionTag = startTag;
    let pollMs = 5;
    for (;;) {
      const lock = this.keys.lock(request.dataset, versionTag, entry);
      const token = randomUUID();
      if ((await this.redis.set(lock, token, 'PX', this.lockTtlMs, 'NX')) === 'OK') {
        try {
          const slice = await this.load(definition, request, entry);
          const envelope = this.envelope(definition.name, entry, slice);
          try {
            await this.write(request, entry, versionTag, slice, envelope);
          } catch (error) {
            // The value is loaded and correct; only caching it failed. Serve it, report degraded.
            this.lastRedisFailure = error;
          }
          return { envelope, source: 'loaded' };
        } catch (error) {
          if (stale !== undefined && this.withinGrace(stale)) {
            this.count(request.dataset, 'stale', 'stale');
            return { envelope: stale, source: 'stale' };
          }
          throw error;
        } finally {
          await this.release(lock, token);
        }
      }
      // Another loader holds the lock: wait for its value, with a growing, bounded poll.
      if (this.now() - started >= this.waitTimeoutMs) {
        if (stale !== undefined && this.withinGrace(stale)) {
          this.count(request.dataset, 'stale', 'stale');
          return { envelope: stale, source: 'stale' };
        }
        throw new CacheWaitTimeoutError(request.dataset, entry, this.now() - started);
      }
      await sleep(pollMs);
      pollMs = Math.min(pollMs * 2, 50);
      const [tag, raw] = await this.read(request, entry);
      const fresh = await this.decode(definition, entry, tag, raw);
      if (fresh !== undefined && fresh.freshUntil >= this.now()) return { envelope: fresh, source: 'peer' };
      // An invalidation in the meantime moves the wait to the new version's lock.
      versionTag = tag;
    }
  }

  private readDegraded(
    definition: DatasetDefinition,
    request: CacheRequest,
    entry: string,
  ): Promise<CacheResult> {
    this.count(request.dataset, 'degraded', 'degraded');
    // Without Redis there is no cross-process lock; single-flight still spares the database
    // one query per concurrent reader of this process.
    return this.singleFlight(`database|${definition.name}|${entry}`, async () => {
      const slice = await this.load(definition, request, entry);
      return { envelope: this.envelope(definition.name, entry, slice), source: 'database' };
    });
  }

  private singleFlight(key: string, run: () => Promise<CacheResult>): Promise<CacheResult> {
    let flight = this.inFlight.get(key);
    if (flight === undefined) {
      flight = run().finally(() => {
        this.inFlight.delete(key);
      });
      this.inFlight.set(key, flight);
    }
    return flight;
  }

  /** Runs the dataset loader with the load timeout; counts loads, failures and latency. */
  private async load(
    definition: DatasetDefinition,
    request: CacheRequest,
    entry: string,
  ): Promise<LoadedSlice<unknown>> {
    const controller = new AbortController();
    const started = performance.now();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        controller.abort();
        reject(new CacheLoadError(definition.name, entry, { timedOut: true }));
      }, this.loadTimeoutMs);
    });
    try {
      const slice = await Promise.race([definition.load(request, controller.signal), timeout]);
      this.recordLoad(request.dataset, started, 'ok');
      return slice;
    } catch (error) {
      const timedOut = error instanceof CacheLoadError && error.timedOut;
      this.recordLoad(request.dataset, started, timedOut ? 'timeout' : 'error');
      throw error instanceof CacheLoadError
        ? error
        : new CacheLoadError(definition.name, entry, { timedOut: false, cause: error });
    } finally {
      clearTimeout(timer);
    }
  }

  private recordLoad(dataset: DatasetName, started: number, result: 'ok' | 'error' | 'timeout'): void {
    const ms = performance.now() - started;
    this.add(`${dataset}:loads`, 1);
    this.add(`${dataset}:load_us`, Math.round(ms * 1000));
    if (result !== 'ok') this.add(`${dataset}:load_errors`, 1);
    this.loadDuration.record(ms / 1000, { dataset, result });
  }

  private envelope(dataset: DatasetName, entry: string, slice: LoadedSlice<unknown>): CacheEnvelope {
    const now = this.now();
    return {
      v: 1,
      dataset,
      entry,
      maxTs: slice.maxTs,
      sourceRunId: slice.sourceRunId,
      loadedAt: new Date(now).toISOString(),
      freshUntil: now + this.policy.ttlSeconds * 1000,
      data: slice.data,
    };
  }

  private async write(
    request: CacheRequest,
    entry: string,
    versionTag: string,
    slice: LoadedSlice<unknown>,
    envelope = this.envelope(request.dataset, entry, slice),
  ): Promise<[number, string, number]> {
    // The key outlives freshness by the grace window, so a failed reload can still serve it.
    const pxMs = (this.policy.ttlSeconds + this.policy.staleGraceSeconds) * 1000;
    return this.redis.cacheWrite(
      this.keys.versions,
      this.keys.lru(request.dataset),
      this.keys.prefix,
      request.dataset,
      entry,
      versionTag,
      JSON.stringify(envelope),
      pxMs,
      this.policy.maxKeysPerDataset,
    );
  }

  private async release(lock: string, token: string): Promise<void> {
    // A lost release only delays the next loader until the lock's PX expires.
    await this.redis.cacheRelease(lock, token).catch(() => undefined);
  }

  private withinGrace(envelope: CacheEnvelope): boolean {
    return this.now() <= envelope.freshUntil + this.policy.staleGraceSeconds * 1000;
  }

  private count(dataset: DatasetName, counter: StatCounter, result: string): void {
    this.add(`${dataset}:${counter}`, 1);
    this.lookups.add(1, { dataset, result });
  }

  private add(field: string, n: number): void {
    this.pending.set(field, (this.pending.get(field) ?? 0) + n);
  }
}

/** Sets `key` in a size-bounded map, dropping the oldest insertion when full. */
function remember<V>(map: Map<string, V>, key: string, value: V): void {
  map.delete(key);
  map.set(key, value);
  if (map.size > DECODED_MEMO_SIZE) {
    const oldest = map.keys().next();
    if (oldest.done !== true) map.delete(oldest.value);
  }
}

function deepFreeze(value: unknown): void {
  if (value === null || typeof value !== 'object' || Object.isFrozen(value)) return;
  Object.freeze(value);
  for (const child of Object.values(value)) deepFreeze(child);
}
