import type { Readiness } from '@backbone/telemetry';
import type { Redis } from 'ioredis';
import type pg from 'pg';

/**
 * `/readyz` of the worker: the database and Redis must really answer (a query and a PING, not
 * "a client exists"), and the BullMQ worker must be taking jobs.
 *
 * @example startHealthServer({ port, readyz: () => checkReadiness({ pool, redis, workerRunning: () => app.isRunning() }) })
 */
export async function checkReadiness(input: {
  pool: pg.Pool;
  redis: Redis;
  workerRunning: () => boolean;
}): Promise<Readiness> {
  const [database, redis] = await Promise.allSettled([input.pool.query('SELECT 1'), input.redis.ping()]);
  const details = {
    database: database.status === 'fulfilled' ? 'ok' : `failing: ${String(database.reason)}`,
    redis: redis.status === 'fulfilled' ? 'ok' : `failing: ${String(redis.reason)}`,
    worker: input.workerRunning() ? 'running' : 'not running',
  };
  return {
    ready: details.database === 'ok' && details.redis === 'ok' && details.worker === 'running',
    details,
  };
}
