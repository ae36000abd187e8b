import { hostname } from 'node:os';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { SupervisorConfigError } from './errors/supervisor-config-error.ts';
import { createJsonLinesLogger, type SupervisorLogger } from './logger.ts';
import { supervisorSnapshotSchema, type SupervisorSnapshot } from './snapshot.ts';

/** What one worker instance publishes under `<namespace>workers:<worker>:<instanceId>`. */
export const heartbeatPayloadSchema = z.object({
  version: z.literal(1),
  worker: z.string().min(1),
  instanceId: z.string().min(1),
  host: z.string(),
  pid: z.number().int().positive(),
  publishedAt: z.iso.datetime(),
  /** The publisher's cadence, so a reader can tell "late" from "gone". */
  intervalMs: z.number().int().positive(),
  ttlMs: z.number().int().positive(),
  snapshot: supervisorSnapshotSchema,
});
export type HeartbeatPayload = z.infer<typeof heartbeatPayloadSchema>;

export interface HeartbeatOptions {
  /** Any ioredis client; the heartbeat never closes it. */
  redis: Redis;
  /** The configured Redis key namespace, including its separator (default `backbone:`). */
  keyNamespace: string;
  /** The worker role, e.g. `cache-warmer`. */
  worker: string;
  /** Defaults to `<host>:<pid>`. */
  instanceId?: string;
  intervalMs?: number;
  /** Must exceed `intervalMs`, so one late beat does not make the instance vanish; defaults to 3 intervals. */
  ttlMs?: number;
  snapshot: () => SupervisorSnapshot;
  logger?: SupervisorLogger;
}

export interface Heartbeat {
  readonly key: string;
  readonly instanceId: string;
  /** Publishes the current snapshot now (also done on every interval). */
  beat(): Promise<void>;
  /** Settles once the first beat, sent at start, is published (or failed and was logged). */
  readonly firstBeat: Promise<void>;
  /** Stops publishing and deletes the key, so readers see a graceful exit at once. Idempotent. */
  stop(): Promise<void>;
}

export const DEFAULT_HEARTBEAT_INTERVAL_MS = 5_000;

const WORKER_NAME = /^[a-z0-9][a-z0-9._-]{0,62}$/;

/** The heartbeat key of one worker instance. @example heartbeatKey('backbone:', 'cache-warmer', 'h1:42') // 'backbone:workers:cache-warmer:h1:42' */
export function heartbeatKey(keyNamespace: string, worker: string, instanceId: string): string {
  return `${keyNamespace}workers:${worker}:${instanceId}`;
}

/** `<host>:<pid>`: unique among live processes, recognisable by an operator. */
export function defaultInstanceId(): string {
  return `${hostname()}:${process.pid}`;
}

/**
 * Publishes the supervisor snapshot to Redis now and every `intervalMs`, each time with a TTL
 * (one atomic `SET … PX`), so an instance that dies silently disappears after `ttlMs`.
 * A failed publish is logged and retried on the next beat; it never stops the worker.
 *
 * @example
 * const heartbeat = startHeartbeat({ redis, keyNamespace: 'backbone:', worker: 'cache-warmer',
 *   snapshot: () => supervisor.snapshot() });
 * // onShutdown: [{ name: 'heartbeat', close: () => heartbeat.stop() }, { name: 'redis', close: … }]
 */
export function startHeartbeat(options: HeartbeatOptions): Heartbeat {
  const intervalMs = options.intervalMs ?? DEFAULT_HEARTBEAT_INTERVAL_MS;
  const ttlMs = options.ttlMs ?? intervalMs * 3;
  const instanceId = options.instanceId ?? defaultInstanceId();
  if (!WORKER_NAME.test(options.worker)) {
    throw new SupervisorConfigError('worker', `must match ${WORKER_NAME.source}, got ${options.worker}`);
  }
  if (instanceId.trim() === '') throw new SupervisorConfigError('instanceId', 'must not be empty');
  if (!(Number.isInteger(intervalMs) && intervalMs > 0)) {
    throw new SupervisorConfigError('intervalMs', 'must be a positive integer');
  }
  if (!(Number.isInteger(ttlMs) && ttlMs > intervalMs)) {
    throw new SupervisorConfigError(
      'ttlMs',
      `must be an integer above intervalMs (${intervalMs}), got ${ttlMs}`,
    );
  }
  const { redis, worker } = options;
  const logger = options.logger ?? createJsonLinesLogger();
  const key = heartbeatKey(options.keyNamespace, worker, instanceId);
  let timer: ReturnType<typeof setTimeout> | undefined;
  let inFlight: Promise<void> = Promise.resolve();
  let stopping: Promise<void> | undefined;

  const publish = async (): Promise<void> => {
    const payload: HeartbeatPayload = {
      version: 1,
      worker,
      instanceId,
      host: hostname(),
      pid: process.pid,
      publishedAt: new Date().toISOString(),
      intervalMs,
      ttlMs,
      snapshot: options.snapshot(),
    };
    await redis.set(key, JSON.stringify(payload), 'PX', ttlMs);
  };

  const beat = (): Promise<void> => {
    if (stopping !== undefined) return Promise.resolve();
    // Beats are chained, never concurrent, so stop() can wait for the last one before deleting.
    inFlight = inFlight.then(publish).catch((error: unknown) => {
      logger.warn({ key, err: error }, 'heartbeat publish failed; retrying on the next beat');
    });
    return inFlight;
  };

  const schedule = (): void => {
    timer = setTimeout(() => {
      void beat().then(() => {
        if (stopping === undefined) schedule();
      });
    }, intervalMs);
  };

  const firstBeat = beat();
  schedule();

  return {
    key,
    instanceId,
    beat,
    firstBeat,
    stop: () => {
      stopping ??= (async () => {
        clearTimeout(timer);
        // A SET still in flight after the DEL would resurrect the key until its TTL.
        await inFlight;
        await redis.del(key);
        logger.info({ key }, 'heartbeat stopped and key deleted');
      })();
      return stopping;
    },
  };
}

export interface LiveInstance {
  key: string;
  payload: HeartbeatPayload;
}

/** A key under `workers:` whose value is not a valid heartbeat: reported, never silently skipped. */
export interface MalformedHeartbeat {
  key: string;
  problem: string;
}

export interface HeartbeatListing {
  live: LiveInstance[];
  malformed: MalformedHeartbeat[];
}

/**
 * Every live worker instance under the namespace (via SCAN, never KEYS), sorted by worker and
 * instance id, each with its validated payload; invalid entries come back in `malformed`.
 *
 * @example const { live, malformed } = await listHeartbeats({ redis, keyNamespace: 'backbone:' });
 */
export async function listHeartbeats(options: {
  redis: Redis;
  keyNamespace: string;
  /** Keys fetched per SCAN step and per MGET. */
  batchSize?: number;
}): Promise<HeartbeatListing> {
  const { redis, keyNamespace } = options;
  const batchSize = options.batchSize ?? 200;
  const pattern = `${escapeGlob(keyNamespace)}workers:*`;
  const keys = new Set<string>(); // SCAN may return a key more than once
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', batchSize);
    cursor = next;
    for (const key of batch) keys.add(key);
  } while (cursor !== '0');

  const listing: HeartbeatListing = { live: [], malformed: [] };
  const sorted = [...keys].sort();
  for (let i = 0; i < sorted.length; i += batchSize) {
    const chunk = sorted.slice(i, i + batchSize);
    const values = await redis.mget(...chunk);
    chunk.forEach((key, j) => {
      const raw = values[j];
      // Expired between SCAN and MGET: the instance vanished, which is not a malformed entry.
      if (raw === null || raw === undefined) return;
      const parsed = parseHeartbeat(key, raw, keyNamespace);
      if ('problem' in parsed) listing.malformed.push(parsed);
      else listing.live.push(parsed);
    });
  }
  return listing;
}

function parseHeartbeat(key: string, raw: string, keyNamespace: string): LiveInstance | MalformedHeartbeat {
  let unvalidated: unknown;
  try {
    unvalidated = JSON.parse(raw);
  } catch {
    return { key, problem: 'value is not JSON' };
  }
  const result = heartbeatPayloadSchema.safeParse(unvalidated);
  if (!result.success) return { key, problem: z.prettifyError(result.error) };
  const payload = result.data;
  const expected = heartbeatKey(keyNamespace, payload.worker, payload.instanceId);
  if (expected !== key) return { key, problem: `payload names ${expected}, not this key` };
  return { key, payload };
}

function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}
