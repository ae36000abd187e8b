export { testEndpoints } from './endpoints.ts';
export { createTestKeyNamespace, createTestSchema, createTestTopic, type TestResource } from './isolation.ts';
export { uniqueName } from './unique-name.ts';
export { waitFor, type WaitForOptions } from './wait-for.ts';
