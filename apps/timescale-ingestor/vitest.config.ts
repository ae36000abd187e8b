import { defineProject } from 'vitest/config';

export default defineProject({
  test: { name: 'timescale-ingestor', include: ['src/**/*.test.ts'] },
});
