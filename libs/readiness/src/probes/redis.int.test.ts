import { spawn, type ChildProcess } from 'node:child_process';
import {
  createTestKeyNamespace,
  freePort,
  testEndpoints,
  waitFor,
  type TestResource,
} from '@backbone/testing';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCheck, type CheckDefinition } from '../run-check.ts';
import { testRules } from '../test-support/config.ts';
import { redisChecks } from './redis.ts';

const rules = testRules({ readiness: { hitRatio: { warn: 0.8, fail: 0.5 } } });

function probeClient(url: string): Redis {
  const redis = new Redis(url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    lazyConnect: true,
    retryStrategy: () => 200,
  });
  redis.on('error', () => undefined);
  return redis;
}

function check(checks: CheckDefinition[], name: string): CheckDefinition {
  const found = checks.find((candidate) => candidate.name === name);
  if (found === undefined) throw new Error(`no check ${name}`);
  return found;
}

describe('Redis probes on a real Redis', () => {
  let redis: Redis;
  let namespace: { prefix: string } & TestResource;
  // A private redis-server with an eviction policy: the shared one must keep noeviction.
  let evicting: ChildProcess;
  let evictingUrl: string;

  beforeAll(async () => {
    redis = probeClient(testEndpoints().redisUrl);
    await redis.connect();
    namespace = createTestKeyNamespace(testEndpoints().redisUrl, 'readiness');
    const port = await freePort();
    evictingUrl = `redis://127.0.0.1:${port}`;
    evicting = spawn(
      'redis-server',
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'no',
        '--maxmemory',
        '64mb',
        '--maxmemory-policy',
        'allkeys-lru',
      ],
      { stdio: 'ignore' },
    );
    await waitFor(
      async () => {
        const client = probeClient(evictingUrl);
        try {
          await client.connect();
          await client.ping();
          return true;
        } finally {
          client.disconnect();
        }
      },
      { description: 'the private redis-server', timeoutMs: 15_000 },
    );
  });
  afterAll(async () => {
    evicting.kill('SIGTERM');
    redis.disconnect();
    await namespace.drop();
  });

  it('ping and memory: ok on the shared Redis (noeviction), with latency, version and memory', async () => {
    const checks = redisChecks({ redis, keyNamespace: namespace.prefix, rules });
    const ping = await runCheck(check(checks, 'redis.ping'), 2_000);
    expect(ping.status).toBe('ok');
    expect(ping.evidence).toMatchObject({
      reply: 'PONG',
      redisVersion: expect.stringMatching(/^\d+\./) as string,
    });
    const memory = await runCheck(check(checks, 'redis.memory'), 2_000);
    expect(memory.status).toBe('ok');
    expect(memory.evidence.maxmemoryPolicy).toBe('noeviction');
    expect(memory.evidence.usedMemoryBytes).toBeGreaterThan(0);
  });

  it('ping: fail naming Redis when nothing listens on its port', async () => {
    const nowhere = probeClient(`redis://127.0.0.1:${await freePort()}`);
    nowhere.connect().catch(() => undefined);
    try {
      const result = await runCheck(
        check(redisChecks({ redis: nowhere, keyNamespace: 'x:', rules }), 'redis.ping'),
        1_000,
      );
      expect(result.status).toBe('fail');
      expect(result.message).toContain('redis');
    } finally {
      nowhere.disconnect();
    }
  });

  it('memory: fail when maxmemory-policy is not noeviction', async () => {
    const client = probeClient(evictingUrl);
    await client.connect();
    try {
      const result = await runCheck(
        check(redisChecks({ redis: client, keyNamespace: 'x:', rules }), 'redis.memory'),
        2_000,
      );
      expect(result.status).toBe('fail');
      expect(result.reason).toBe('redis_eviction_policy');
      expect(result.message).toContain('maxmemory-policy is allkeys-lru; BullMQ needs noeviction');
    } finally {
      client.disconnect();
    }
  });

  it('cache: hit ratio and key count per dataset from the shared counters; ok, warn, fail per round', async () => {
    const stats = `${namespace.prefix}cache:stats`;
    const checks = redisChecks({
      redis,
      keyNamespace: namespace.prefix,
      rules,
      datasets: ['latest-bar', 'rollups'],
    });
    const cache = check(checks, 'cache.hit-ratio');
    await redis.hset(
      stats,
      'latest-bar:hits',
      90,
      'latest-bar:misses',
      10,
      'rollups:hits',
      0,
      'rollups:misses',
      0,
    );
    await redis.zadd(`${namespace.prefix}cache:lru:latest-bar`, 1, 'EURUSD:1m', 2, 'GBPUSD:1m');
    const first = await runCheck(cache, 2_000);
    expect(first.status).toBe('ok');
    expect(first.evidence.datasets).toEqual([
      { dataset: 'latest-bar', hits: 90, misses: 10, windowLookups: 100, hitRatio: 0.9, keys: 2 },
      { dataset: 'rollups', hits: 0, misses: 0, windowLookups: 0, hitRatio: null, keys: 0 },
    ]);
    // The next round judges only what happened since the previous one: 7 of 10 hit.
    await redis.hincrby(stats, 'latest-bar:hits', 7);
    await redis.hincrby(stats, 'latest-bar:misses', 3);
    const second = await runCheck(cache, 2_000);
    expect(second.status).toBe('warn');
    expect(second.message).toContain('latest-bar hit 7 of 10 lookups (70%), below the warn threshold 80%');
    await redis.hincrby(stats, 'rollups:misses', 5);
    const third = await runCheck(cache, 2_000);
    expect(third.status).toBe('fail');
    expect(third.message).toContain('rollups hit 0 of 5 lookups (0%), below the fail threshold 50%');
  });
});
