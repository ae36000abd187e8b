/**
 * Hit-path throughput of the read-through client, for comparison with
 * `redis-benchmark -t get -c 50` (measured, never asserted):
 *
 *   node libs/cache/src/test-support/bench-hit-path.ts [redisUrl] [concurrency] [seconds]
 *
 * Runs `concurrency` loops of `CacheClient.get` on one warm latest-bar key (one EVALSHA per
 * get plus envelope validation), then the same loops of a bare ioredis GET, in one process.
 */
import { Redis } from 'ioredis';
import { CacheClient } from '../cache-client.ts';
import type { DatasetDefinition } from '../datasets.ts';
import { cachedBarSchema } from '../datasets.ts';
import { createCacheRedis, redisReady } from '../redis.ts';

const [redisUrl = 'redis://127.0.0.1:6379', concurrencyArg = '50', secondsArg = '5'] = process.argv.slice(2);
const concurrency = Number(concurrencyArg);
const seconds = Number(secondsArg);
const namespace = `t_bench_${process.pid}:`;

const bar = {
  ts: '2026-11-26T15:30:00.000Z',
  open: 1.0841,
  high: 1.0846,
  low: 1.0839,
  close: 1.0844,
  volume: 1250,
  source: 'feed',
};
const latestBar: DatasetDefinition = {
  name: 'latest-bar',
  schema: cachedBarSchema.nullable(),
  load: () => Promise.resolve({ data: bar, maxTs: bar.ts, sourceRunId: null }),
};

async function run(op: () => Promise<unknown>): Promise<number> {
  let count = 0;
  const deadline = performance.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < deadline) {
        await op();
        count++;
      }
    }),
  );
  return count / seconds;
}

const redis = createCacheRedis({ url: redisUrl, tls: { enabled: false, rejectUnauthorized: true } });
await redisReady(redis, 2_000);
const cache = new CacheClient({
  redis,
  keyNamespace: namespace,
  datasets: { 'latest-bar': latestBar },
  policy: { ttlSeconds: 600, maxKeysPerDataset: 10, staleGraceSeconds: 0 },
});
const request = { dataset: 'latest-bar', symbol: 'EURUSD', timeframe: '1m' } as const;
await cache.warm(request);
const client = await run(() => cache.get(request));
const raw = new Redis(redisUrl);
await raw.set(`${namespace}raw`, JSON.stringify(bar));
const plain = await run(() => raw.get(`${namespace}raw`));
await cache.close();
const keys = await raw.keys(`${namespace}*`);
if (keys.length > 0) await raw.unlink(...keys);
raw.disconnect();
redis.disconnect();
process.stdout.write(
  `${JSON.stringify({ concurrency, seconds, clientHitsPerSecond: Math.round(client), ioredisGetPerSecond: Math.round(plain) })}\n`,
);
