import { uniqueName, waitFor } from '@backbone/testing';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { heartbeatKey, listHeartbeats, startHeartbeat } from './heartbeat.ts';
import { Supervisor } from './supervisor.ts';
import { recordingLogger, untilAborted } from './test-support/children.ts';
import { testRedisUrl } from './test-support/redis-url.ts';

const redisUrl = testRedisUrl();
let redis: Redis;

beforeAll(() => {
  redis = new Redis(redisUrl);
});

afterAll(async () => {
  await redis.quit();
});

function runningSupervisor(): Supervisor {
  const supervisor = new Supervisor({
    name: 'cache-warmer',
    logger: recordingLogger().logger,
    children: [
      { name: 'warm-queue', restart: 'permanent', start: untilAborted, metadata: { queue: 'cache-warm' } },
    ],
  });
  supervisor.start();
  return supervisor;
}

describe('heartbeats on the real Redis', () => {
  it('publishes the snapshot under <namespace>workers:<worker>:<instance> with a TTL, listed by listHeartbeats, deleted on stop', async () => {
    const keyNamespace = `${uniqueName('hb')}:`;
    const supervisor = runningSupervisor();
    const heartbeat = startHeartbeat({
      redis,
      keyNamespace,
      worker: 'cache-warmer',
      instanceId: 'host-a:101',
      intervalMs: 100,
      ttlMs: 300,
      snapshot: () => supervisor.snapshot(),
      logger: recordingLogger().logger,
    });
    expect(heartbeat.key).toBe(`${keyNamespace}workers:cache-warmer:host-a:101`);

    const listing = await waitFor(async () => {
      const found = await listHeartbeats({ redis, keyNamespace });
      return found.live.length === 1 ? found : undefined;
    });
    expect(listing.malformed).toEqual([]);
    const [instance] = listing.live;
    expect(instance?.key).toBe(heartbeat.key);
    expect(instance?.payload).toMatchObject({
      worker: 'cache-warmer',
      instanceId: 'host-a:101',
      pid: process.pid,
      intervalMs: 100,
      ttlMs: 300,
      snapshot: {
        name: 'cache-warmer',
        status: 'running',
        children: [{ name: 'warm-queue', state: 'running', metadata: { queue: 'cache-warm' } }],
      },
    });
    const ttl = await redis.pttl(heartbeat.key);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(300);

    // Later beats carry the later snapshot.
    await supervisor.stop();
    await waitFor(async () => {
      const found = await listHeartbeats({ redis, keyNamespace });
      return found.live[0]?.payload.snapshot.status === 'stopped';
    });

    await heartbeat.stop();
    expect(await redis.exists(heartbeat.key)).toBe(0);
    expect((await listHeartbeats({ redis, keyNamespace })).live).toEqual([]);
  });

  it('publishes its first beat at start; firstBeat settles once the key is there', async () => {
    const keyNamespace = `${uniqueName('hb')}:`;
    const supervisor = runningSupervisor();
    // An interval far beyond the test: only the beat sent at start can have written the key.
    const heartbeat = startHeartbeat({
      redis,
      keyNamespace,
      worker: 'stream-bridge',
      instanceId: 'host-b:7',
      intervalMs: 60_000,
      ttlMs: 120_000,
      snapshot: () => supervisor.snapshot(),
      logger: recordingLogger().logger,
    });
    await heartbeat.firstBeat;
    expect(await redis.exists(heartbeat.key)).toBe(1);
    await heartbeat.stop();
  });

  it('lets the key expire after its TTL when the instance stops beating without a goodbye', async () => {
    const keyNamespace = `${uniqueName('hb_vanish')}:`;
    const supervisor = runningSupervisor();
    // Its own connection, cut below: the instance "dies" without deleting its key.
    const doomed = new Redis(redisUrl, { maxRetriesPerRequest: 0 });
    doomed.on('error', () => undefined);
    const { logger, entries } = recordingLogger();
    const heartbeat = startHeartbeat({
      redis: doomed,
      keyNamespace,
      worker: 'stream-bridge',
      instanceId: 'host-b:202',
      intervalMs: 100,
      ttlMs: 300,
      snapshot: () => supervisor.snapshot(),
      logger,
    });
    await waitFor(async () => (await redis.exists(heartbeat.key)) === 1, { description: 'first heartbeat' });

    doomed.disconnect();
    await waitFor(async () => (await listHeartbeats({ redis, keyNamespace })).live.length === 0, {
      timeoutMs: 3_000,
      description: 'the vanished instance to drop out of the listing',
    });
    expect(await redis.exists(heartbeat.key)).toBe(0);
    // The failed beats were reported, not swallowed.
    await waitFor(() => entries.some((e) => e.message.startsWith('heartbeat publish failed')));
    // Deleting needs the connection that is gone: stop() says so instead of pretending.
    await expect(heartbeat.stop()).rejects.toThrow();
    await supervisor.stop();
  });

  it('reports malformed entries under the namespace instead of dropping them', async () => {
    const keyNamespace = `${uniqueName('hb_bad')}:`;
    const notJson = heartbeatKey(keyNamespace, 'cache-warmer', 'h:1');
    const wrongShape = heartbeatKey(keyNamespace, 'cache-warmer', 'h:2');
    await redis.set(notJson, 'hello', 'PX', 10_000);
    await redis.set(wrongShape, JSON.stringify({ version: 1, worker: 'cache-warmer' }), 'PX', 10_000);
    await redis.set(`${uniqueName('other')}:workers:x:1`, 'elsewhere', 'PX', 10_000);

    const listing = await listHeartbeats({ redis, keyNamespace, batchSize: 1 });
    expect(listing.live).toEqual([]);
    expect(listing.malformed.map((m) => m.key)).toEqual([notJson, wrongShape]);
    expect(listing.malformed[0]?.problem).toBe('value is not JSON');
    expect(listing.malformed[1]?.problem).toContain('instanceId');
  });

  it('refuses a TTL that is not longer than the interval', () => {
    expect(() =>
      startHeartbeat({
        redis,
        keyNamespace: 'x:',
        worker: 'w',
        intervalMs: 500,
        ttlMs: 500,
        snapshot: () => {
          throw new Error('a refused heartbeat never takes a snapshot');
        },
      }),
    ).toThrow(/ttlMs/);
  });
});
