import { fileURLToPath } from 'node:url';
import { command, median, ratio, series, type Series } from './measure.ts';

export interface CacheScenarioOptions {
  readonly redisUrl: string;
  readonly concurrency: number;
  /** Seconds of each side's loop in the hit-path script. */
  readonly seconds: number;
  /** Requests of one redis-benchmark run. */
  readonly requests: number;
  readonly repetitions: number;
}

export interface CacheScenarioResult {
  readonly concurrency: number;
  /** `CacheClient.get` hits per second (one EVALSHA + envelope validation each). */
  readonly clientHits: Series;
  /** Bare ioredis GET per second from the same process (the client's own floor). */
  readonly ioredisGet: Series;
  readonly redisBenchmark: Series;
  readonly ratioToRedisBenchmark: number;
  readonly ioredisRatioToRedisBenchmark: number;
}

// libs/cache owns the hit-path loop; it runs as its own process so the harness's heap and event
// loop do not share its measurements, and it prints one JSON line.
const HIT_PATH_SCRIPT = fileURLToPath(
  new URL('../../libs/cache/src/test-support/bench-hit-path.ts', import.meta.url),
);

interface HitPathOutput {
  clientHitsPerSecond: number;
  ioredisGetPerSecond: number;
}

/** Scenario 4 of the issue: read-through client hits vs `redis-benchmark -t get` at one concurrency. */
export async function runCacheScenario(options: CacheScenarioOptions): Promise<CacheScenarioResult> {
  const url = new URL(options.redisUrl);
  const client: number[] = [];
  const ioredis: number[] = [];
  const reference: number[] = [];
  for (let i = 0; i < options.repetitions; i++) {
    const output = await command(process.execPath, [
      HIT_PATH_SCRIPT,
      options.redisUrl,
      String(options.concurrency),
      String(options.seconds),
    ]);
    const hitPath = JSON.parse(output.trim()) as HitPathOutput;
    client.push(hitPath.clientHitsPerSecond);
    ioredis.push(hitPath.ioredisGetPerSecond);

    const benchmark = await command('redis-benchmark', [
      '-h',
      url.hostname,
      '-p',
      url.port === '' ? '6379' : url.port,
      '-t',
      'get',
      '-c',
      String(options.concurrency),
      '-n',
      String(options.requests),
      '-q',
    ]);
    reference.push(parseRedisBenchmark(benchmark));
  }
  const clientSeries = series(client);
  const ioredisSeries = series(ioredis);
  const referenceSeries = series(reference);
  return {
    concurrency: options.concurrency,
    clientHits: clientSeries,
    ioredisGet: ioredisSeries,
    redisBenchmark: referenceSeries,
    ratioToRedisBenchmark: ratio(clientSeries, referenceSeries),
    ioredisRatioToRedisBenchmark: Math.round((ioredisSeries.median / median(reference)) * 100) / 100,
  };
}

/** `GET: 123456.79 requests per second, p50=0.199 msec` → 123456.79 (the last progress line wins). */
export function parseRedisBenchmark(output: string): number {
  const matches = [...output.matchAll(/GET: ([\d.]+) requests per second/g)];
  const last = matches.at(-1)?.[1];
  if (last === undefined) throw new Error(`redis-benchmark printed no GET rate: ${output.slice(-200)}`);
  return Number(last);
}
