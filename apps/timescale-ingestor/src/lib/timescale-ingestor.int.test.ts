import { createServer, type RequestListener, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { systemConfigSchema, type SystemConfig } from '@backbone/config';
import { JOBS, type RunPlanJob } from '@backbone/contracts';
import { createPool, migrate } from '@backbone/db';
import { createLogger } from '@backbone/telemetry';
import {
  createTestDatabase,
  createTestKeyNamespace,
  startTcpProxy,
  testEndpoints,
  type TestResource,
  waitFor,
} from '@backbone/testing';
import { Redis } from 'ioredis';
import type pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { planStateKey, type PlanState } from './plan-state.ts';
import { checkReadiness } from './readiness.ts';
import { TimescaleIngestor } from './timescale-ingestor.ts';

/** A Yahoo v8 chart body with SPY's daily bars of the last three days. */
function spyChart(): unknown {
  const day = 86_400_000;
  const today = Math.floor(Date.now() / day) * day;
  const timestamp = [3, 2, 1].map((back) => (today - back * day + 14.5 * 3_600_000) / 1000);
  return {
    chart: {
      result: [
        {
          meta: { symbol: 'SPY', gmtoffset: -18_000, exchangeTimezoneName: 'America/New_York' },
          timestamp,
          indicators: {
            quote: [
              {
                open: [600, 601, 602],
                high: [605, 606, 607],
                low: [595, 596, 597],
                close: [601, 602, 603],
                volume: [1, 2, 3],
              },
            ],
          },
        },
      ],
      error: null,
    },
  };
}

const FIXTURES = join(import.meta.dirname, '../../../../fixtures/bars');

let database: { url: string; drop(): Promise<void> };
let pool: pg.Pool;
const cleanups: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  database = await createTestDatabase('t_ingestor', { migrate });
  pool = createPool({ url: database.url, poolSize: 8 });
});
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});
afterAll(async () => {
  await pool.end();
  await database.drop();
});

interface Instance {
  app: TimescaleIngestor;
  redis: Redis;
}

/** One worker instance with its own Redis connections, stopped after the test. */
async function startInstance(
  config: SystemConfig,
  planLockTtlMs = 5_000,
  bookkeepingRedisUrl = testEndpoints().redisUrl,
): Promise<Instance> {
  const workerRedis = new Redis(testEndpoints().redisUrl, { maxRetriesPerRequest: null });
  // The producer and bookkeeping connection, which also holds the plan locks.
  const redis = new Redis(bookkeepingRedisUrl, { maxRetriesPerRequest: 2 });
  const app = new TimescaleIngestor({
    config,
    pool,
    workerRedis,
    redis,
    logger: createLogger({ name: 'ingestor-test', level: 'silent' }),
    busyRetryDelayMs: 100,
    planLockTtlMs,
  });
  cleanups.push(async () => {
    await app.stop(5_000);
    await Promise.allSettled([redis.quit(), workerRedis.quit()]);
  });
  await app.start();
  return { app, redis };
}

function namespace(prefix: string): TestResource & { prefix: string } {
  const ns = createTestKeyNamespace(testEndpoints().redisUrl, prefix);
  cleanups.push(() => ns.drop());
  return ns;
}

function configFor(keyNamespace: string, plans: unknown[]): SystemConfig {
  return systemConfigSchema.parse({
    database: { url: database.url },
    redis: { url: testEndpoints().redisUrl, keyNamespace },
    ingest: { plans, concurrency: 2, providers: { csv: { directory: FIXTURES } } },
  });
}

/** Yahoo's answer for a symbol it does not know (a permanent error). */
const NOT_FOUND_BODY = '{"chart":{"result":null,"error":{"code":"Not Found","description":"No data found"}}}';

/** A local stand-in for Yahoo's chart API answering with `handler`, closed after the test; its base URL. */
async function fakeYahoo(handler: RequestListener): Promise<string> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => {
    server.closeAllConnections();
    return new Promise((resolve) => server.close(resolve));
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/**
 * One Yahoo plan (daily bars, hourly, no jitter, so it runs once at start) against `baseUrl`, with
 * no HTTP-level retries: the job's own retries are what the tests watch. `plan` and `providers`
 * add to or override those settings.
 */
function yahooPlanConfig(
  keyNamespace: string,
  baseUrl: string,
  plan: { name: string; symbols: string[] } & Record<string, unknown>,
  providers: { yahoo?: Record<string, unknown> } & Record<string, unknown> = {},
): SystemConfig {
  const { schedule, ...planSettings } = plan;
  return systemConfigSchema.parse({
    database: { url: database.url },
    redis: { url: testEndpoints().redisUrl, keyNamespace },
    ingest: {
      providers: { ...providers, yahoo: { baseUrl, maxRetries: 0, ...providers.yahoo } },
      plans: [
        {
          provider: 'yahoo',
          timeframes: ['1d'],
          lookbackDays: 10,
          ...planSettings,
          schedule: { intervalSeconds: 3600, jitterSeconds: 0, ...(schedule as object | undefined) },
        },
      ],
    },
  });
}

async function runsOf(plan: string) {
  const result = await pool.query<{
    run_id: string;
    status: string;
    started_at: Date;
    finished_at: Date | null;
    inserted: string;
    error: string | null;
  }>(
    'SELECT run_id, status, started_at, finished_at, inserted, error FROM backbone.ingest_runs WHERE plan = $1 ORDER BY started_at',
    [plan],
  );
  return result.rows;
}

describe('TimescaleIngestor', () => {
  it('runs a scheduled plan job through the real BullMQ and stores its bars', async () => {
    const ns = namespace('sched');
    const plan = 'fx-daily-sched';
    const config = configFor(ns.prefix, [
      {
        name: plan,
        provider: 'csv',
        symbols: ['EURUSD', 'USDJPY'],
        timeframes: ['1d'],
        schedule: { intervalSeconds: 3600, jitterSeconds: 0 },
      },
    ]);
    const { app } = await startInstance(config);
    const [scheduler] = await app.queue.getJobSchedulers(0, -1);
    expect(scheduler).toMatchObject({ key: plan, every: 3_600_000 });

    await waitFor(async () => (await runsOf(plan)).some((run) => run.status === 'succeeded'), {
      timeoutMs: 60_000,
    });
    const [run] = await runsOf(plan);
    expect(run?.inserted).toBe('1050');
    const stored = await pool.query<{ symbol: string; n: string }>(
      `SELECT symbol, count(*) AS n FROM market_data.bars WHERE timeframe = '1d' GROUP BY symbol ORDER BY symbol`,
    );
    expect(stored.rows).toEqual([
      { symbol: 'EURUSD', n: '525' },
      { symbol: 'USDJPY', n: '525' },
    ]);
  });

  it('never runs the same plan twice at once, across two worker instances', async () => {
    const ns = namespace('excl');
    const plan = 'fx-minutes-excl';
    // Long interval: only the manual jobs below run in this test (the first scheduled one too).
    const config = configFor(ns.prefix, [
      {
        name: plan,
        provider: 'csv',
        symbols: ['GBPUSD'],
        timeframes: ['1m'],
        schedule: { intervalSeconds: 3600, jitterSeconds: 0 },
      },
    ]);
    const first = await startInstance(config);
    await startInstance(config);
    const manual: RunPlanJob = { planName: plan, reason: 'manual' };
    await Promise.all(
      [1, 2, 3, 4].map((n) => first.app.queue.add(JOBS.runPlan, manual, { jobId: `manual-${n}` })),
    );

    // Every manual job eventually runs (a busy plan delays them, never drops them).
    await waitFor(async () => (await runsOf(plan)).filter((run) => run.finished_at !== null).length >= 4, {
      timeoutMs: 100_000,
    });
    const runs = (await runsOf(plan)).filter((run) => run.finished_at !== null);
    for (let index = 1; index < runs.length; index += 1) {
      const previous = runs[index - 1];
      const current = runs[index];
      // Runs of one plan are strictly sequential: each starts after the previous one finished.
      expect(current?.started_at.getTime()).toBeGreaterThanOrEqual(
        previous?.finished_at?.getTime() ?? Infinity,
      );
    }
    expect(runs.every((run) => run.status === 'succeeded')).toBe(true);
  });

  it('re-plans the symbols a partial run missed with a longer, bounded lookback', async () => {
    const ns = namespace('recover');
    const plan = 'eq-partial';
    // SPY answers with bars; QQQ is not found (a permanent error for that symbol only).
    const yahoo = await fakeYahoo((request, response) => {
      if (request.url?.includes('/SPY') === true) {
        response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(spyChart()));
      } else {
        response.writeHead(404, { 'content-type': 'application/json' }).end(NOT_FOUND_BODY);
      }
    });
    const config = yahooPlanConfig(ns.prefix, yahoo, { name: plan, symbols: ['SPY', 'QQQ'] });
    const { app } = await startInstance(config);
    await waitFor(async () => (await runsOf(plan)).some((run) => run.status === 'partial'), {
      timeoutMs: 60_000,
    });
    let recovery: Awaited<ReturnType<typeof app.queue.getJobs>>[number] | undefined;
    await waitFor(
      async () => {
        recovery = (await app.queue.getJobs(['delayed', 'waiting', 'active', 'completed', 'failed'])).find(
          (job) => job.id?.startsWith(`recovery-${plan}-`),
        );
        return recovery !== undefined;
      },
      { timeoutMs: 30_000 },
    );
    const data = recovery?.data as RunPlanJob;
    expect(data).toMatchObject({ planName: plan, reason: 'recovery', symbols: ['QQQ'] });
    const lookbackDays =
      (Date.parse(data.window?.to ?? '') - Date.parse(data.window?.from ?? '')) / 86_400_000;
    expect(lookbackDays).toBe(20); // twice the plan's 10 days (bounded at 365)
  });

  it('gives an in-flight job back to the queue when a stop runs out of time', async () => {
    const ns = namespace('release');
    const plan = 'eq-slow';
    // A provider that never answers: the run is still fetching when the stop deadline comes.
    const yahoo = await fakeYahoo(() => undefined);
    const config = yahooPlanConfig(
      ns.prefix,
      yahoo,
      { name: plan, symbols: ['SPY'], lookbackDays: 5 },
      { yahoo: { timeoutMs: 600_000 } },
    );
    const { app } = await startInstance(config);
    await waitFor(async () => (await app.queue.getJobCounts('active')).active === 1, { timeoutMs: 60_000 });
    const [active] = await app.queue.getJobs(['active']);

    const started = Date.now();
    await app.stop(2_000);
    expect(Date.now() - started).toBeLessThan(10_000);
    const released = await app.queue.getJob(active?.id ?? '');
    expect(await released?.getState()).toBe('delayed');
    expect(released?.attemptsMade).toBe(0);
    // Interrupted, not failed: no failed run is recorded against the plan.
    expect((await runsOf(plan)).filter((run) => run.status === 'failed')).toEqual([]);
  });

  it('finding 4.3: a plan lock lost mid-run (its key deleted) aborts the run, recorded failed with lock_lost and nothing written', async () => {
    const ns = namespace('lost');
    const plan = 'eq-lock-lost';
    // A provider that never answers on its own: the run is fetching, holding the lock, when it is lost.
    const yahoo = await fakeYahoo(() => undefined);
    const config = yahooPlanConfig(
      ns.prefix,
      yahoo,
      { name: plan, symbols: ['SPY'], lookbackDays: 5 },
      { yahoo: { timeoutMs: 600_000 } },
    );
    const { app, redis } = await startInstance(config);
    const [active] = await waitFor(
      async () => {
        const jobs = await app.queue.getJobs(['active']);
        return jobs.length === 1 ? jobs : undefined;
      },
      { timeoutMs: 60_000, description: 'the run is fetching' },
    );
    const lockKey = `${ns.prefix}ingest:plan-lock:${plan}`;
    // Active comes a moment before the lock is taken.
    await waitFor(async () => (await redis.exists(lockKey)) === 1, { description: 'the plan lock taken' });
    expect(await redis.del(lockKey)).toBe(1);

    const [run] = await waitFor(
      async () => {
        const failed = (await runsOf(plan)).filter((row) => row.status === 'failed');
        return failed.length > 0 ? failed : undefined;
      },
      { timeoutMs: 60_000, description: 'the run recorded as failed' },
    );
    expect(run?.error).toMatch(new RegExp(`^lock_lost: plan lock ${lockKey} is no longer held by this run`));
    expect(run?.inserted).toBe('0');
    // The attempt failed with the same reason (retried later, with the lock taken afresh).
    const failedReason = await waitFor(async () => (await app.queue.getJob(active?.id ?? ''))?.failedReason, {
      timeoutMs: 30_000,
      description: 'the attempt failed',
    });
    expect(failedReason).toMatch(/^lock_lost: /);
  });

  it('finding 4.3: a plan lock whose extensions fail for a whole TTL (Redis unreachable) counts as lost and aborts the run', async () => {
    const ns = namespace('expired');
    const plan = 'eq-lock-expired';
    const yahoo = await fakeYahoo(() => undefined);
    const config = yahooPlanConfig(
      ns.prefix,
      yahoo,
      { name: plan, symbols: ['SPY'], lookbackDays: 5 },
      { yahoo: { timeoutMs: 600_000 } },
    );
    // Only the lock's connection goes through the proxy: the BullMQ worker keeps its own.
    const target = new URL(testEndpoints().redisUrl);
    const proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 6379) });
    cleanups.push(() => proxy.close());
    const { redis } = await startInstance(config, 3_000, `redis://127.0.0.1:${proxy.port}`);
    // Its connection errors are the point of the test, not noise to report.
    redis.on('error', () => undefined);
    // Watched on a connection of its own: the instance's goes down with the proxy.
    const direct = new Redis(testEndpoints().redisUrl, { maxRetriesPerRequest: 2 });
    cleanups.push(() => direct.quit());
    const lockKey = `${ns.prefix}ingest:plan-lock:${plan}`;
    await waitFor(async () => (await direct.exists(lockKey)) === 1, {
      timeoutMs: 60_000,
      description: 'the run holds the plan lock',
    });
    proxy.cut();
    // Given back before the cleanup, which closes the queue over this connection.
    cleanups.push(() => {
      proxy.restore();
      return Promise.resolve();
    });

    const [run] = await waitFor(
      async () => {
        const failed = (await runsOf(plan)).filter((row) => row.status === 'failed');
        return failed.length > 0 ? failed : undefined;
      },
      { timeoutMs: 60_000, description: 'the run recorded as failed' },
    );
    expect(run?.error).toMatch(
      new RegExp(`^lock_lost: plan lock ${lockKey} was not extended for 3000 ms \\(Redis unreachable\\)`),
    );
    expect(run?.inserted).toBe('0');
  });

  it('finding 4.3: an error releasing the plan lock never replaces the run’s own result', async () => {
    const ns = namespace('unrelease');
    const plan = 'eq-release-fails';
    const held: ServerResponse[] = [];
    // Holds every request until the test answers it, so the lock can be spoilt while the run is fetching.
    const yahoo = await fakeYahoo((_request, response) => {
      held.push(response);
    });
    const config = yahooPlanConfig(ns.prefix, yahoo, { name: plan, symbols: ['SPY'] });
    // A long TTL: no extension tick comes between the spoilt key and the end of the run.
    const { app, redis } = await startInstance(config, 60_000);
    await waitFor(() => held.length === 1, { timeoutMs: 60_000, description: 'the run is fetching' });
    const [active] = await app.queue.getJobs(['active']);
    // A key of another type: the release script's GET fails with WRONGTYPE, a real Redis error.
    const lockKey = `${ns.prefix}ingest:plan-lock:${plan}`;
    await redis.multi().del(lockKey).hset(lockKey, 'spoilt', 'by the test').exec();
    for (const response of held) {
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(spyChart()));
    }

    // Its attempt ends completed, or (the old behaviour) failed with the release error.
    await waitFor(
      async () => {
        const job = await app.queue.getJob(active?.id ?? '');
        // A failed attempt leaves its stack trace (and the job delayed for its retry).
        return job !== undefined && (job.finishedOn !== undefined || (job.stacktrace ?? []).length > 0);
      },
      { timeoutMs: 60_000, description: 'the job finished its attempt' },
    );
    const finished = await app.queue.getJob(active?.id ?? '');
    expect(await finished?.getState()).toBe('completed');
    expect(finished?.stacktrace).toEqual([]);
    expect(finished?.returnvalue).toMatchObject({ plan, runs: [{ status: 'succeeded' }] });
    expect((await runsOf(plan)).map((row) => row.status)).toEqual(['succeeded']);
  });

  it('retries a retriable failure (503) with backoff and completes the same run on the next attempt', async () => {
    const ns = namespace('retry');
    const plan = 'eq-flaky';
    let requests = 0;
    // The first answer is a 503 (retriable); every later one has the bars.
    const yahoo = await fakeYahoo((_request, response) => {
      requests += 1;
      if (requests === 1) {
        response.writeHead(503, { 'content-type': 'text/plain' }).end('Service Unavailable');
        return;
      }
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(spyChart()));
    });
    // No HTTP-level retries (yahooPlanConfig): the job's own retry (BullMQ attempts + backoff) must do it.
    const config = yahooPlanConfig(ns.prefix, yahoo, {
      name: plan,
      symbols: ['SPY'],
      schedule: { maxConsecutiveFailures: 1 },
    });
    const { app, redis } = await startInstance(config);
    const completed = await waitFor(async () => (await app.queue.getJobs(['completed']))[0], {
      timeoutMs: 60_000,
      description: 'the scheduled job completed',
    });
    expect(requests).toBe(2);
    expect(completed.attemptsMade).toBeGreaterThanOrEqual(1);
    // The backoff (5 s) separates the two attempts.
    expect((completed.finishedOn ?? 0) - completed.timestamp).toBeGreaterThanOrEqual(5_000);
    expect(completed.returnvalue).toMatchObject({ plan, runs: [{ status: 'succeeded' }] });
    // SPY's three bars, stored now or by an earlier test of this file (same chart, unchanged).
    const [run] = (completed.returnvalue as { runs: { inserted: number; unchanged: number }[] }).runs;
    expect((run?.inserted ?? 0) + (run?.unchanged ?? 0)).toBe(3);
    // Same job, same run id: the failed first attempt's run row became the succeeded run.
    expect((await runsOf(plan)).map((run) => run.status)).toEqual(['succeeded']);
    // A retried attempt is not a consecutive failure: a limit of 1 did not stop the plan.
    expect(await redis.hget(planStateKey(ns.prefix, plan), 'status')).not.toBe('stopped');
    expect(await app.queue.getJobSchedulers(0, -1)).toHaveLength(1);
  });

  it('fails a plan over to its fallback provider (csv) when Yahoo fails', async () => {
    const ns = namespace('failover');
    const plan = 'eq-failover';
    const yahoo = await fakeYahoo((_request, response) => {
      response.writeHead(503, { 'content-type': 'text/html' }).end('<html>maintenance</html>');
    });
    const config = yahooPlanConfig(
      ns.prefix,
      yahoo,
      { name: plan, fallbackProvider: 'csv', symbols: ['GBPUSD'], lookbackDays: 3650 },
      { csv: { directory: FIXTURES } },
    );
    const { app } = await startInstance(config);
    const completed = await waitFor(async () => (await app.queue.getJobs(['completed']))[0], {
      timeoutMs: 60_000,
      description: 'the scheduled job completed',
    });
    // Every shipped GBPUSD daily bar came from the csv fallback, in one attempt.
    expect(completed.returnvalue).toMatchObject({ plan, runs: [{ status: 'succeeded', inserted: 525 }] });
    const sources = await pool.query<{ source: string; n: string }>(
      `SELECT source, count(*) AS n FROM market_data.bars WHERE symbol = 'GBPUSD' AND timeframe = '1d' GROUP BY source`,
    );
    expect(sources.rows).toEqual([{ source: 'csv', n: '525' }]);
  });

  it('merges a plan with its mergeWith source: each bar from the most trusted source that has it', async () => {
    const ns = namespace('merge');
    const plan = 'eq-merged';
    // Earlier tests of this file stored Yahoo's SPY bars; this run must find none.
    await pool.query(`DELETE FROM market_data.bars WHERE symbol = 'SPY'`);
    const yahoo = await fakeYahoo((_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(spyChart()));
    });
    const config = yahooPlanConfig(
      ns.prefix,
      yahoo,
      { name: plan, mergeWith: ['csv'], symbols: ['SPY'], lookbackDays: 3650 },
      { csv: { directory: FIXTURES } },
    );
    const { app } = await startInstance(config);
    const completed = await waitFor(async () => (await app.queue.getJobs(['completed']))[0], {
      timeoutMs: 60_000,
      description: 'the scheduled job completed',
    });
    // Yahoo's three most recent days and the 504 shipped SPY daily bars, which end before them.
    expect(completed.returnvalue).toMatchObject({ plan, runs: [{ status: 'succeeded', inserted: 507 }] });
    const sources = await pool.query<{ source: string; n: string }>(
      `SELECT source, count(*) AS n FROM market_data.bars WHERE symbol = 'SPY' AND timeframe = '1d' GROUP BY source ORDER BY source`,
    );
    expect(sources.rows).toEqual([
      { source: 'csv', n: '504' },
      { source: 'yahoo', n: '3' },
    ]);
    const [run] = (
      await pool.query<{ quality: { merge?: { sources: string[]; rowsBySource: Record<string, number> } } }>(
        'SELECT quality FROM backbone.ingest_runs WHERE plan = $1',
        [plan],
      )
    ).rows;
    expect(run?.quality.merge).toMatchObject({
      sources: ['yahoo', 'csv'],
      rowsBySource: { yahoo: 3, csv: 504 },
    });
  });

  it('stops a plan after its consecutive failures: scheduler removed, state in Redis, failed runs recorded', async () => {
    const ns = namespace('stop');
    const plan = 'eq-broken';
    const yahoo = await fakeYahoo((_request, response) => {
      response.writeHead(404, { 'content-type': 'application/json' }).end(NOT_FOUND_BODY);
    });
    const config = yahooPlanConfig(ns.prefix, yahoo, {
      name: plan,
      symbols: ['SPY'],
      schedule: { maxConsecutiveFailures: 2 },
    });
    const { app, redis } = await startInstance(config);
    // The first scheduled run fails; one manual run more reaches the limit of 2.
    await waitFor(async () => (await runsOf(plan)).length >= 1, { timeoutMs: 60_000 });
    await app.queue.add(JOBS.runPlan, { planName: plan, reason: 'manual' } satisfies RunPlanJob, {
      jobId: 'manual-fail',
    });
    await waitFor(async () => (await redis.hget(planStateKey(ns.prefix, plan), 'status')) === 'stopped', {
      timeoutMs: 60_000,
    });
    expect(await app.queue.getJobSchedulers(0, -1)).toEqual([]);
    const state = await redis.hgetall(planStateKey(ns.prefix, plan));
    expect(state).toMatchObject({ status: 'stopped', consecutiveFailures: '2' });
    expect(state['lastError']).toMatch(/404|Not Found/);
    const runs = await runsOf(plan);
    expect(runs.map((run) => run.status)).toEqual(['failed', 'failed']);
    // /readyz says so, without making the process unready.
    const readiness = await checkReadiness({
      pool,
      redis,
      workerRunning: () => app.isRunning(),
      plans: () => app.planStates(),
    });
    expect(readiness.ready).toBe(true);
    const shown = (readiness.details['plans'] as Record<string, PlanState> | undefined)?.[plan];
    expect(shown).toMatchObject({ status: 'stopped', consecutiveFailures: 2 });
    expect(shown?.lastError).toMatch(/404|Not Found/);
  });
});
