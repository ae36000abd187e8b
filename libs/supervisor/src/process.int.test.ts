import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { uniqueName, waitFor } from '@backbone/testing';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listHeartbeats } from './heartbeat.ts';
import { testRedisUrl } from './test-support/redis-url.ts';

const script = fileURLToPath(new URL('./test-support/supervised-process.ts', import.meta.url));
const redisUrl = testRedisUrl();
let redis: Redis;

beforeAll(() => {
  redis = new Redis(redisUrl);
});

afterAll(async () => {
  await redis.quit();
});

interface Spawned {
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill: (signal: NodeJS.Signals) => void;
  stderrLines: () => Record<string, unknown>[];
}

/** Starts the fixture worker and resolves once it printed `ready` (its first heartbeat is in Redis). */
async function spawnWorker(mode: 'clean' | 'hung', keyNamespace: string): Promise<Spawned> {
  const child = spawn(process.execPath, [script, mode, redisUrl, keyNamespace], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = once(child, 'exit').then(([code, signal]) => ({
    code: code as number | null,
    signal: signal as NodeJS.Signals | null,
  }));
  await waitFor(() => stdout.includes('ready'), {
    timeoutMs: 20_000,
    description: `fixture worker (${mode}) to print ready`,
  });
  return {
    exited,
    kill: (signal) => child.kill(signal),
    stderrLines: () =>
      stderr
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as Record<string, unknown>),
  };
}

// Spawning a Node process that strips types on the fly takes seconds on a busy machine.
describe('a real worker process under runSupervisedProcess', { timeout: 30_000 }, () => {
  it('exits 0 on SIGTERM after a clean shutdown and deletes its heartbeat', async () => {
    const keyNamespace = `${uniqueName('proc_clean')}:`;
    const worker = await spawnWorker('clean', keyNamespace);
    const { live } = await listHeartbeats({ redis, keyNamespace });
    expect(live.map((i) => i.payload.snapshot.children.map((c) => c.state))).toEqual([['running']]);

    worker.kill('SIGTERM');
    expect(await worker.exited).toEqual({ code: 0, signal: null });
    const last = worker.stderrLines().at(-1);
    expect(last).toMatchObject({ msg: 'process exiting cleanly', exitCode: 0, trigger: 'SIGTERM' });
    // Deleted by the heartbeat hook, not left to expire.
    expect((await listHeartbeats({ redis, keyNamespace })).live).toEqual([]);
  });

  it('exits 1 on SIGTERM when a child ignores its signal, and reports it orphaned in the JSON output', async () => {
    const keyNamespace = `${uniqueName('proc_hung')}:`;
    const worker = await spawnWorker('hung', keyNamespace);
    worker.kill('SIGTERM');
    expect(await worker.exited).toEqual({ code: 1, signal: null });
    const lines = worker.stderrLines();
    expect(lines.some((l) => l.msg === 'child did not settle within its shutdown deadline: orphaned')).toBe(
      true,
    );
    const last = lines.at(-1);
    expect(last).toMatchObject({
      msg: 'process exiting after an unclean shutdown',
      exitCode: 1,
      trigger: 'SIGTERM',
      snapshot: {
        children: [
          { name: 'consumer', state: 'stopped' },
          { name: 'stuck', state: 'orphaned' },
        ],
      },
    });
  });

  it('disappears from the heartbeat listing after its TTL when it is killed without a shutdown', async () => {
    const keyNamespace = `${uniqueName('proc_kill')}:`;
    const worker = await spawnWorker('clean', keyNamespace);
    expect((await listHeartbeats({ redis, keyNamespace })).live).toHaveLength(1);
    worker.kill('SIGKILL');
    expect(await worker.exited).toEqual({ code: null, signal: 'SIGKILL' });
    await waitFor(async () => (await listHeartbeats({ redis, keyNamespace })).live.length === 0, {
      timeoutMs: 3_000,
      description: 'the killed instance to expire from the listing',
    });
  });
});
