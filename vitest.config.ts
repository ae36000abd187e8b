import { defineConfig } from 'vitest/config';

// One vitest run covers every project; each project's own vitest.config.ts names it and
// says which files are its tests. Integration tests (*.int.test.ts) and end-to-end tests
// (*.e2e.test.ts) talk to the real local stack, which the global setup finds or refuses.
export default defineConfig({
  test: {
    projects: ['apps/*/vitest.config.ts', 'libs/*/vitest.config.ts'],
    globalSetup: ['libs/testing/src/global-setup.ts'],
    reporters: ['default', './libs/testing/src/summary-reporter.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
