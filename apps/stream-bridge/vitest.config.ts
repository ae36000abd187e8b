import { defineProject } from 'vitest/config';

export default defineProject({
  // Integration tests wait for consumer-group joins on the real broker.
  test: { name: 'stream-bridge', include: ['src/**/*.test.ts'], testTimeout: 90_000, hookTimeout: 60_000 },
});
