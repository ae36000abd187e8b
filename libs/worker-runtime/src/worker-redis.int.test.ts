import { Writable } from 'node:stream';
import { systemConfigSchema } from '@backbone/config';
import { createLogger } from '@backbone/telemetry';
import { freePort, testEndpoints, uniqueName, waitFor } from '@backbone/testing';
import type { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { createWorkerRedis } from './worker-redis.ts';

const clients: Redis[] = [];
afterEach(() => {
  for (const client of clients.splice(0)) client.disconnect();
});

/** A logger writing its JSON lines into `lines`. */
function capturingLogger(lines: Record<string, unknown>[]) {
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      done();
    },
  });
  return createLogger({ name: 'worker-redis-test', level: 'warn', destination });
}

function redisConfig(url: string) {
  return systemConfigSchema.parse({ redis: { url } }).redis;
}

describe('createWorkerRedis', () => {
  it('names its connection on the server', async () => {
    const name = uniqueName('worker_redis');
    const redis = createWorkerRedis(redisConfig(testEndpoints().redisUrl), {
      logger: capturingLogger([]),
      connectionName: name,
    });
    clients.push(redis);
    const list = (await redis.client('LIST')) as string;
    expect(list).toContain(`name=${name} `);
  });

  it('fails a command fast while Redis is away, except on a blocking (BullMQ worker) client, and logs why', async () => {
    const url = `redis://127.0.0.1:${await freePort()}`;
    const lines: Record<string, unknown>[] = [];
    const logger = capturingLogger(lines);
    const failFast = createWorkerRedis(redisConfig(url), { logger, connectionName: 'fail-fast' });
    const blocking = createWorkerRedis(redisConfig(url), {
      logger,
      connectionName: 'blocking',
      blocking: true,
    });
    clients.push(failFast, blocking);
    let blockingSettled = false;
    blocking.get('k').then(
      () => (blockingSettled = true),
      () => (blockingSettled = true),
    );
    await expect(failFast.get('k')).rejects.toThrow(/max retries per request/i);
    // The fail-fast client gave up after its retries; the blocking one still waits for Redis.
    expect(blockingSettled).toBe(false);
    await waitFor(() => lines.some((line) => line['connection'] === 'blocking'), { timeoutMs: 10_000 });
    expect(lines.find((line) => line['connection'] === 'fail-fast')).toMatchObject({
      level: 'warn',
      msg: 'redis connection error',
    });
  });
});
