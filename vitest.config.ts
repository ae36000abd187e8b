import { defineConfig } from 'vitest/config';

// One vitest run covers every project. Each project's own vitest.config.ts names it, says which
// files are its tests and sets its timeouts: projects given as config files do not inherit test
// options from this file; the global setup and the reporters are run-wide. Integration tests
// (*.int.test.ts) talk to the real local stack, which the global setup finds or starts.
export default defineConfig({
  test: {
    projects: ['apps/*/vitest.config.ts', 'libs/*/vitest.config.ts'],
    globalSetup: ['libs/testing/src/global-setup.ts'],
    reporters: ['default', './libs/testing/src/summary-reporter.ts'],
  },
});
