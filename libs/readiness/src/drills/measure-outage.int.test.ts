import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisChecks } from '../probes/redis.ts';
import { runCheck } from '../run-check.ts';
import { testRules } from '../test-support/config.ts';
import { testEndpoints as endpoints } from '@backbone/testing';
import { measureOutage } from './measure-outage.ts';
import { CuttableTcpProxy } from './tcp-proxy.ts';

describe('outage measurement through a cuttable proxy in front of the real Redis', () => {
  let proxy: CuttableTcpProxy;
  let redis: Redis;

  beforeAll(async () => {
    const target = new URL(endpoints().redisUrl);
    proxy = await CuttableTcpProxy.start({ host: target.hostname, port: Number(target.port) });
    redis = new Redis({
      host: '127.0.0.1',
      port: proxy.port,
      maxRetriesPerRequest: 1,
      retryStrategy: () => 100,
      lazyConnect: true,
    });
    redis.on('error', () => undefined);
    await redis.connect();
  });
  afterAll(async () => {
    redis.disconnect();
    await proxy.close();
  });

  it('detects the cut as fail and the restore as ok, and measures both', async () => {
    const rules = testRules();
    const ping = redisChecks({ redis, keyNamespace: 'unused:', rules }).find(
      (check) => check.name === 'redis.ping',
    );
    if (ping === undefined) throw new Error('no redis.ping check');
    const statuses: string[] = [];
    const measured = await measureOutage({
      probe: async () => {
        const result = await runCheck(ping, 1_000);
        statuses.push(result.status);
        return result.status;
      },
      cut: () => {
        proxy.cut();
      },
      restore: () => {
        proxy.restore();
      },
      pollIntervalMs: 100,
      timeoutMs: 15_000,
    });
    expect(statuses[0]).toBe('ok');
    expect(statuses).toContain('fail');
    expect(statuses.at(-1)).toBe('ok');
    expect(measured.detectionSeconds).toBeGreaterThanOrEqual(0);
    expect(measured.recoverySeconds).toBeGreaterThan(0);
    expect(proxy.isCut).toBe(false);
  });
});
