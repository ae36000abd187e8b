import { defineProject } from 'vitest/config';

export default defineProject({
  test: { name: 'readiness', include: ['src/**/*.test.ts'] },
});
