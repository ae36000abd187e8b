import type { TestProject } from 'vitest/node';

/**
 * Runs once per test run, before any test file. Finds the services the integration tests talk
 * to and hands their endpoints to the tests (`inject('endpoints')`).
 */
export function setup(project: TestProject): void {
  const endpoints = {
    databaseUrl: 'postgres://postgres@127.0.0.1:5432/backbone',
    redisUrl: 'redis://127.0.0.1:6379',
    kafkaBrokers: ['127.0.0.1:9092'],
  };
  project.provide('endpoints', endpoints);
}

declare module 'vitest' {
  export interface ProvidedContext {
    endpoints: { databaseUrl: string; redisUrl: string; kafkaBrokers: string[] };
  }
}
