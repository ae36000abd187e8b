import { defineProject } from 'vitest/config';

export default defineProject({
  test: { name: 'stream-bridge', include: ['src/**/*.test.ts'] },
});
