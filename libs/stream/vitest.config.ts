import { defineProject } from 'vitest/config';

export default defineProject({
  // Integration tests wait for group joins, rebalances and outages on the real stack.
  test: { name: 'stream', include: ['src/**/*.test.ts'], testTimeout: 90_000, hookTimeout: 60_000 },
});
