import { inject } from 'vitest';

/**
 * The Redis URL the global setup found, typed. The `ProvidedContext` augmentation lives in the
 * testing lib's global setup, which this project's compilation does not see.
 */
export function testRedisUrl(): string {
  return (inject as unknown as (key: 'endpoints') => { redisUrl: string })('endpoints').redisUrl;
}
