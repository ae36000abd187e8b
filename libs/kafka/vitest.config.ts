import { defineProject } from 'vitest/config';

export default defineProject({
  // Integration tests wait for consumer-group joins on the real broker (seconds, not milliseconds).
  test: { name: 'kafka', include: ['src/**/*.test.ts'], testTimeout: 30_000 },
});
