import type { CacheClient } from '@backbone/cache';
import type { Readiness } from '@backbone/telemetry';
import type pg from 'pg';

/**
 * `/readyz` of the cache-warmer: ready only while Redis answers (the cache is not degraded),
 * the database answers and the consumer and worker run. Each check reports its own state.
 */
export async function checkReadiness(parts: {
  cache: CacheClient;
  pool: pg.Pool;
  running: () => boolean;
}): Promise<Readiness> {
  const cache = parts.cache.status();
  let database: string;
  try {
    await parts.pool.query('SELECT 1');
    database = 'ok';
  } catch (error) {
    database = error instanceof Error ? error.name : 'failed';
  }
  const running = parts.running();
  return {
    ready: cache === 'healthy' && database === 'ok' && running,
    details: { cache, database, worker: running ? 'running' : 'stopped' },
  };
}
