import { defineProject } from 'vitest/config';

export default defineProject({
  // Integration tests run real BullMQ workers against the real database and Redis.
  test: {
    name: 'timescale-ingestor',
    include: ['src/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
