export { testEndpoints } from './endpoints.ts';
export { freePort } from './free-port.ts';
export {
  createTestDatabase,
  createTestKeyNamespace,
  createTestSchema,
  createTestTopic,
  type TestDatabase,
  type TestResource,
} from './isolation.ts';
export { startTcpProxy, type TcpProxy } from './tcp-proxy.ts';
export { uniqueName } from './unique-name.ts';
export { waitFor, type WaitForOptions } from './wait-for.ts';
