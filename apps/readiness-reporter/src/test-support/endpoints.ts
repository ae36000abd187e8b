import { inject } from 'vitest';

/** The services the global setup found (see libs/testing/src/global-setup.ts). */
export interface Endpoints {
  databaseUrl: string;
  redisUrl: string;
  kafkaBrokers: string[];
}

/**
 * `inject('endpoints')`, typed. The `ProvidedContext` augmentation lives in the testing lib's
 * global setup, which this project's compilation does not see.
 */
export function endpoints(): Endpoints {
  return inject('endpoints');
}
