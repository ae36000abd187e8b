import { defineProject } from 'vitest/config';

export default defineProject({
  test: { name: 'readiness-reporter', include: ['src/**/*.test.ts'] },
});
