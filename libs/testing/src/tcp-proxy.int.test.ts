import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createTestKeyNamespace } from './isolation.ts';
import { startTcpProxy, type TcpProxy } from './tcp-proxy.ts';
import { waitFor } from './wait-for.ts';

// The proxy in front of the real shared Redis: what a cut looks like to a client under test.
const { redisUrl } = inject('endpoints');
const target = new URL(redisUrl);
let proxy: TcpProxy;

beforeAll(async () => {
  proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 6379) });
});
afterAll(() => proxy.close());

function client(): Redis {
  const redis = new Redis(`redis://127.0.0.1:${proxy.port}`, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null, // report the cut instead of reconnecting behind the test's back
  });
  redis.on('error', () => undefined);
  return redis;
}

describe('startTcpProxy', () => {
  it('forwards traffic, kills live connections and refuses new ones while cut, and works again after restore', async () => {
    const namespace = createTestKeyNamespace(redisUrl, 'proxy');
    const key = `${namespace.prefix}k`;
    const before = client();
    await before.connect();
    await before.set(key, 'v');
    expect(await before.get(key)).toBe('v');

    proxy.cut();
    await waitFor(() => before.status === 'end');
    const during = client();
    await expect(during.connect()).rejects.toThrow();
    during.disconnect();

    proxy.restore();
    const after = client();
    await after.connect();
    expect(await after.get(key)).toBe('v');
    after.disconnect();
    await namespace.drop();
  });
});
