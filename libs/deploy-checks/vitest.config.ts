import { defineProject } from 'vitest/config';

export default defineProject({
  // The Prometheus test starts four Node processes and a Prometheus server before its tests.
  test: { name: 'deploy-checks', include: ['src/**/*.test.ts'], testTimeout: 30_000, hookTimeout: 120_000 },
});
