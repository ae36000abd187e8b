import { createTestDatabase, type TestDatabase } from '@backbone/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backbone } from '../e2e/processes.ts';

// Each `./backbone` start loads the TypeScript sources; on a busy machine that takes a while.
const SLOW = 240_000;

describe('./backbone migrate chooses the storage mode the server can run', () => {
  let plain: TestDatabase;
  let timescale: TestDatabase;
  beforeAll(async () => {
    // Not migrated: the command makes the choice.
    plain = await createTestDatabase('t_cli_migrate_plain', { server: 'plain' });
    timescale = await createTestDatabase('t_cli_migrate_ts');
  });
  afterAll(async () => {
    await Promise.allSettled([plain.drop(), timescale.drop()]);
  });

  it(
    'uses plain partitioning and prints a warning naming shared_preload_libraries where TimescaleDB is installed but not preloaded',
    async () => {
      // The machine's PostgreSQL has the extension's files but does not preload the library.
      const outcome = await backbone(['migrate', '--set', `database.url=${plain.url}`]);
      expect(outcome.code, outcome.stderr).toBe(0);
      const lines = outcome.stdout.split('\n');
      expect(lines[0]).toBe('storage mode: postgres-partitioned');
      expect(lines[1]).toMatch(
        /^WARNING: chose plain PostgreSQL partitioning: TimescaleDB is installed on this server but not in shared_preload_libraries; .*shared_preload_libraries = 'timescaledb'/,
      );
    },
    SLOW,
  );

  it(
    'uses TimescaleDB without a warning on the stack server, which preloads it',
    async () => {
      const outcome = await backbone(['migrate', '--set', `database.url=${timescale.url}`]);
      expect(outcome.code, outcome.stderr).toBe(0);
      expect(outcome.stdout.split('\n')[0]).toBe('storage mode: timescaledb');
      expect(outcome.stdout).not.toContain('WARNING');
    },
    SLOW,
  );
});
