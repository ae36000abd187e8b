import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { MissingToolError, PortInUseError, ServiceStartError } from './errors.ts';
import { isLocalHost, type RedisEndpoint } from './options.ts';
import {
  findListener,
  isInstalled,
  isPortOpen,
  pollUntil,
  run,
  tail,
  terminate,
  terminateIfCommand,
} from './process.ts';
import type { StackState } from './state.ts';

export type RedisProbe =
  | { state: 'up'; version: string; maxmemoryPolicy: string | undefined; warnings: string[] }
  | { state: 'down'; error: Error };

/** A one-shot client that fails fast: no retries, no offline queue (connect before use). */
function checkClient(endpoint: RedisEndpoint): Redis {
  const redis = new Redis({
    host: endpoint.host,
    port: endpoint.port,
    lazyConnect: true,
    connectTimeout: 2_000,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  });
  // Errors surface through connect()/commands; the listener keeps ioredis from printing them.
  redis.on('error', () => undefined);
  return redis;
}

/**
 * Asks the server itself: `INFO server` for the version and `CONFIG GET maxmemory-policy`, which
 * must be `noeviction` because BullMQ loses jobs when Redis evicts keys.
 *
 * @example const probe = await probeRedis({ host: '127.0.0.1', port: 6379 });
 */
export async function probeRedis(endpoint: RedisEndpoint): Promise<RedisProbe> {
  const redis = checkClient(endpoint);
  try {
    await redis.connect();
    const info = await redis.info('server');
    const version = /^redis_version:(.+)$/m.exec(info)?.[1]?.trim() ?? 'unknown';
    const warnings: string[] = [];
    let maxmemoryPolicy: string | undefined;
    try {
      const reply = (await redis.config('GET', 'maxmemory-policy')) as string[];
      maxmemoryPolicy = reply[1];
    } catch (error) {
      warnings.push(`could not read maxmemory-policy (${(error as Error).message}); BullMQ needs noeviction`);
    }
    if (maxmemoryPolicy !== undefined && maxmemoryPolicy !== 'noeviction') {
      warnings.push(
        `maxmemory-policy is ${maxmemoryPolicy}, not noeviction: Redis may evict BullMQ jobs under memory pressure. ` +
          'Fix: redis-cli CONFIG SET maxmemory-policy noeviction (and set it in redis.conf)',
      );
    }
    return { state: 'up', version, maxmemoryPolicy, warnings };
  } catch (error) {
    return { state: 'down', error: error as Error };
  } finally {
    redis.disconnect();
  }
}

/**
 * A reused local Redis without a memory bound (`maxmemory 0`, the package default) gets the
 * stack's: unbounded, nothing but the OOM killer stops it, and BullMQ's jobs go with it (readiness
 * warns `redis_memory_unbounded`). Only in memory (CONFIG SET, not CONFIG REWRITE): the server's
 * own redis.conf stays untouched, and an operator's explicit bound is never changed.
 */
async function boundUnboundedRedis(
  endpoint: RedisEndpoint,
  maxmemory: string,
  log: (message: string) => void,
): Promise<void> {
  const redis = checkClient(endpoint);
  try {
    await redis.connect();
    const [, current] = (await redis.config('GET', 'maxmemory')) as string[];
    if (current !== '0') return;
    await redis.config('SET', 'maxmemory', maxmemory);
    log(
      `redis: ${endpoint.host}:${endpoint.port} had no maxmemory (unbounded); set to ${maxmemory} until it restarts ` +
        '(set maxmemory in its redis.conf to keep it)',
    );
  } catch (error) {
    log(`redis: could not bound the reused server's memory (${(error as Error).message})`);
  } finally {
    redis.disconnect();
  }
}

/**
 * Makes Redis answer on the endpoint: reuses a running server, otherwise starts `redis-server`
 * daemonized with `maxmemory` and noeviction, its pid, log and data under `<cacheDir>/redis/`.
 * A reused local server without a memory bound gets `maxmemory` too (boundUnboundedRedis).
 * Returns what it started, or undefined when it reused a running server.
 */
export async function ensureRedis(
  endpoint: RedisEndpoint,
  {
    cacheDir,
    redisServer,
    maxmemory,
    startTimeoutMs,
    log,
  }: {
    cacheDir: string;
    redisServer: string;
    /** `maxmemory` of a started server (and of a reused local one that has none), e.g. `1gb`. */
    maxmemory: string;
    startTimeoutMs: number;
    log: (message: string) => void;
  },
): Promise<StackState['redis']> {
  const where = `${endpoint.host}:${endpoint.port}`;
  const first = await probeRedis(endpoint);
  if (first.state === 'up') {
    if (isLocalHost(endpoint.host)) await boundUnboundedRedis(endpoint, maxmemory, log);
    return undefined;
  }
  if (!isLocalHost(endpoint.host)) {
    throw new ServiceStartError(
      'redis',
      `nothing answers at ${where} and it is not on this machine; start Redis there or point the Redis URL elsewhere`,
    );
  }
  if (await isPortOpen(endpoint.host, endpoint.port)) {
    throw new PortInUseError(
      'redis',
      endpoint.port,
      await findListener(endpoint.port),
      'it does not answer as Redis',
    );
  }
  if (!(await isInstalled(redisServer))) {
    throw new MissingToolError('redis', 'redis-server', 'sudo apt-get install -y redis-server');
  }
  // One folder per port, so a test's private server never shares data or AOF files with the main one.
  const dir = join(cacheDir, 'redis', String(endpoint.port));
  await mkdir(dir, { recursive: true });
  const pidFile = join(dir, 'redis.pid');
  const logFile = join(dir, 'redis.log');
  log(`starting redis-server on ${where}`);
  await run(redisServer, [
    '--bind',
    endpoint.host,
    '--port',
    String(endpoint.port),
    '--daemonize',
    'yes',
    '--pidfile',
    pidFile,
    '--logfile',
    logFile,
    '--dir',
    dir,
    '--appendonly',
    'yes',
    // Bounded, and never evicting: BullMQ loses jobs when Redis evicts keys, so a full Redis must
    // refuse writes (an error the workers report) rather than drop keys or grow without limit.
    '--maxmemory',
    maxmemory,
    '--maxmemory-policy',
    'noeviction',
  ]);
  const answered = await pollUntil(
    async () => (await probeRedis(endpoint)).state === 'up',
    startTimeoutMs,
    50,
  );
  const pid = Number((await readFile(pidFile, 'utf8').catch(() => '')).trim());
  if (!answered || !pid) {
    if (pid) await terminate(pid, 5_000);
    throw new ServiceStartError(
      'redis',
      `redis-server did not answer at ${where} within ${startTimeoutMs} ms; its log:\n${await tail(logFile)}`,
    );
  }
  return { pid, port: endpoint.port, startedAt: new Date().toISOString() };
}

/** Stops a redis-server that `up` started (SIGTERM: Redis writes its data and exits). */
export async function stopRedis(started: NonNullable<StackState['redis']>): Promise<void> {
  await terminateIfCommand(started.pid, 'redis-server', 30_000);
}
