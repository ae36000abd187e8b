import type { Readiness } from '@backbone/telemetry';
import type { Redis } from 'ioredis';
import type pg from 'pg';
import type { PlanState } from './plan-state.ts';

/**
 * `/readyz` of the worker: the database and Redis must really answer (a query and a PING, not
 * "a client exists"), and the BullMQ worker must be taking jobs. `details.plans` shows every
 * configured plan's state, so a plan stopped after its consecutive failures is visible here; it
 * does not make the process unready (a restart would not help, the plan needs an operator).
 *
 * @example startHealthServer({ port, readyz: () => checkReadiness({ pool, redis, workerRunning: () => app.isRunning() }) })
 */
export async function checkReadiness(input: {
  pool: pg.Pool;
  redis: Redis;
  workerRunning: () => boolean;
  /** The state of every configured plan (see TimescaleIngestor.planStates). */
  plans?: () => Promise<Record<string, PlanState>>;
}): Promise<Readiness> {
  const [database, redis, plans] = await Promise.allSettled([
    input.pool.query('SELECT 1'),
    input.redis.ping(),
    input.plans?.() ?? Promise.resolve(undefined),
  ]);
  const details = {
    database: database.status === 'fulfilled' ? 'ok' : `failing: ${String(database.reason)}`,
    redis: redis.status === 'fulfilled' ? 'ok' : `failing: ${String(redis.reason)}`,
    worker: input.workerRunning() ? 'running' : 'not running',
    ...(input.plans === undefined
      ? {}
      : { plans: plans.status === 'fulfilled' ? plans.value : `unknown: ${String(plans.reason)}` }),
  };
  return {
    ready: details.database === 'ok' && details.redis === 'ok' && details.worker === 'running',
    details,
  };
}
