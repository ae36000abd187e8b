import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { dockerEngineVersion } from './docker.ts';
import { stackOptions } from './options.ts';

// `./backbone stack …` as an operator runs it: exit codes and output of the fixed command surface
// (architecture.md). Read-only against the shared stack; the fault paths that need a service
// stopped or a port taken are in stack.int.test.ts, on private ports.
const launcher = join(stackOptions().rootDir, 'backbone');
const dockerEngine = await dockerEngineVersion();

async function backbone(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(launcher, args, { cwd: stackOptions().rootDir });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: unknown; stdout?: string; stderr?: string };
    if (typeof failed.code !== 'number') throw error;
    return { code: failed.code, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' };
  }
}

describe('./backbone stack', () => {
  it('status --json shows TimescaleDB, the plain PostgreSQL, Redis and Kafka up with their versions, exit 0', async () => {
    const { code, stdout } = await backbone(['stack', 'status', '--json']);
    expect(code).toBe(0);
    const { services } = JSON.parse(stdout) as {
      services: { service: string; state: string; version?: string; endpoint: string }[];
    };
    // After `up --ha` the HA cluster is listed too; it has its own tests (ha/ha.int.test.ts).
    const core = services.filter(({ service }) => service !== 'ha');
    expect(core.map(({ service, state }) => [service, state])).toEqual([
      ['timescaledb', 'up'],
      ['postgres', 'up'],
      ['redis', 'up'],
      ['kafka', 'up'],
    ]);
    expect(core[0]?.version).toMatch(/^PostgreSQL \d+.*; TimescaleDB \d+\.\d+\.\d+$/);
    expect(core[0]?.endpoint).toBe('postgres://postgres@127.0.0.1:5433/backbone');
    expect(core[1]?.version).toMatch(/^PostgreSQL \d+/);
    expect(core[1]?.endpoint).toBe('postgres://postgres@127.0.0.1:5432/backbone');
    expect(core[2]?.version).toMatch(/^\d+\.\d+/);
    expect(core[3]?.version).toMatch(/^\d+\.\d+\.\d+$/);
    expect(core[3]?.endpoint).toBe('127.0.0.1:9092');
  });

  // With a Docker engine this would start docker/compose.yaml, so it runs only where none answers.
  it.skipIf(dockerEngine !== undefined)(
    'up --docker without a Docker engine exits 1 and says what to run instead',
    async () => {
      const { code, stderr } = await backbone(['stack', 'up', '--docker']);
      expect(code).toBe(1);
      expect(stderr).toContain('no Docker engine answers');
      expect(stderr).toContain('./backbone stack up` without --docker');
    },
  );

  it('an unknown subcommand is bad usage: exit 2', async () => {
    const { code } = await backbone(['stack', 'sideways']);
    expect(code).toBe(2);
  });
});
