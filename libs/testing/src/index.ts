export { testEndpoints } from './endpoints.ts';
// One implementation, in the stack library (the drills and the bench need it outside tests too).
export { freePort } from '@backbone/stack';
export {
  createTestDatabase,
  createTestKeyNamespace,
  createTestSchema,
  createTestTopic,
  type TestDatabase,
  type TestDatabaseServer,
  type TestResource,
  waitForFirstJobRuns,
} from './isolation.ts';
export { utcMidnightDaysAgo } from './recent-time.ts';
export { startTcpProxy, type TcpProxy } from './tcp-proxy.ts';
export { uniqueName } from './unique-name.ts';
export { waitFor, type WaitForOptions } from './wait-for.ts';
