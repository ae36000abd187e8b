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
import { parseInfo, redisChecks } from './redis.ts';

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

/** A private redis-server on a free port (the shared one must not be reconfigured). */
async function startRedisServer(args: string[]): Promise<{ url: string; server: ChildProcess }> {
  const port = await freePort();
  const url = `redis://127.0.0.1:${port}`;
  const server = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...args],
    { stdio: 'ignore' },
  );
  await waitFor(
    async () => {
      const client = probeClient(url);
      try {
        await client.connect();
        await client.ping();
        return true;
      } finally {
        client.disconnect();
      }
    },
    { description: `the private redis-server ${args.join(' ')}`, timeoutMs: 15_000 },
  );
  return { url, server };
}

/** `used_memory / maxmemory` as Redis reports it now. */
async function usedRatio(client: Redis): Promise<number> {
  const memory = parseInfo(await client.info('memory'));
  return Number(memory.get('used_memory')) / Number(memory.get('maxmemory'));
}

describe('Redis probes on a real Redis', () => {
  let redis: Redis;
  let namespace: { prefix: string } & TestResource;
  const servers: ChildProcess[] = [];
  // Private redis-servers: one with an eviction policy, one bounded with noeviction (as the
  // stack runs it), one unbounded (maxmemory 0).
  let evictingUrl: string;
  let boundedUrl: string;
  let unboundedUrl: string;

  beforeAll(async () => {
    redis = probeClient(testEndpoints().redisUrl);
    await redis.connect();
    namespace = createTestKeyNamespace(testEndpoints().redisUrl, 'readiness');
    const started = await Promise.all([
      startRedisServer(['--maxmemory', '64mb', '--maxmemory-policy', 'allkeys-lru']),
      startRedisServer(['--maxmemory', '8mb', '--maxmemory-policy', 'noeviction']),
      startRedisServer(['--maxmemory', '0', '--maxmemory-policy', 'noeviction']),
    ]);
    servers.push(...started.map(({ server }) => server));
    [evictingUrl, boundedUrl, unboundedUrl] = started.map(({ url }) => url) as [string, string, string];
  });
  afterAll(async () => {
    for (const server of servers) server.kill('SIGTERM');
    redis.disconnect();
    await namespace.drop();
  });

  it('ping: ok on the shared Redis, with latency and version', async () => {
    const checks = redisChecks({ redis, keyNamespace: namespace.prefix, rules });
    const ping = await runCheck(check(checks, 'redis.ping'), 2_000);
    expect(ping.status).toBe('ok');
    expect(ping.evidence).toMatchObject({
      reply: 'PONG',
      redisVersion: expect.stringMatching(/^\d+\./) as string,
    });
  });

  it('finding 4.2: memory warns and fails at the configured share of maxmemory on a bounded noeviction Redis; ok with headroom', async () => {
    const memoryRules = testRules({ readiness: { redisMemoryRatio: { warn: 0.3, fail: 0.6 } } });
    const client = probeClient(boundedUrl);
    await client.connect();
    try {
      const memory = check(
        redisChecks({ redis: client, keyNamespace: 'x:', rules: memoryRules }),
        'redis.memory',
      );
      const roomy = await runCheck(memory, 2_000);
      expect(roomy.status).toBe('ok');
      expect(roomy.evidence).toMatchObject({
        maxmemoryPolicy: 'noeviction',
        maxmemoryBytes: 8 * 1024 * 1024,
      });
      // Real data, 64 KiB at a time, until Redis itself reports the share.
      const fillTo = async (share: number) => {
        for (let i = 0; (await usedRatio(client)) < share; i += 1) {
          await client.set(`fill:${share}:${i}`, 'x'.repeat(64 * 1024));
        }
      };
      await fillTo(0.3);
      const warned = await runCheck(memory, 2_000);
      expect(warned.status).toBe('warn');
      expect(warned.reason).toBe('redis_memory_high');
      expect(warned.message).toMatch(
        /^Redis uses [\d,]+ of 8,388,608 bytes \(\d+%\), above the warn threshold 30%/,
      );
      await fillTo(0.6);
      const failed = await runCheck(memory, 2_000);
      expect(failed.status).toBe('fail');
      expect(failed.message).toContain('above the fail threshold 60%');
    } finally {
      client.disconnect();
    }
  });

  it('finding 4.2: memory warns when Redis has no maxmemory (unbounded)', async () => {
    const client = probeClient(unboundedUrl);
    await client.connect();
    try {
      const result = await runCheck(
        check(redisChecks({ redis: client, keyNamespace: 'x:', rules }), 'redis.memory'),
        2_000,
      );
      expect(result.status).toBe('warn');
      expect(result.reason).toBe('redis_memory_unbounded');
      expect(result.message).toMatch(/^Redis has no maxmemory \(uses [\d,]+ bytes, unbounded\)/);
      expect(result.evidence).toMatchObject({ maxmemoryBytes: 0, usedRatio: null });
    } finally {
      client.disconnect();
    }
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
