import type { StackEndpoints } from '@backbone/stack';
import { inject } from 'vitest';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The services the global setup found or started (see global-setup.ts). */
    endpoints: StackEndpoints;
  }
}

/**
 * The PostgreSQL, Redis and Kafka endpoints that the global setup found for this test run.
 *
 * @example const { databaseUrl, redisUrl, kafkaBrokers } = testEndpoints();
 */
export function testEndpoints(): StackEndpoints {
  return inject('endpoints');
}
