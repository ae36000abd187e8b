import { defineProject } from 'vitest/config';

export default defineProject({
  // Integration tests write tens of thousands of rows to the real database.
  test: { name: 'ingest', include: ['src/**/*.test.ts'], testTimeout: 120_000, hookTimeout: 120_000 },
});
