import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { uniqueName, waitFor } from '@backbone/testing';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listHeartbeats } from './heartbeat.ts';
import { testRedisUrl } from './test-support/redis-url.ts';

const script = fileURLToPath(new URL('./test-support/supervised-process.ts', import.meta.url));
const launcherScript = fileURLToPath(new URL('./test-support/launcher.ts', import.meta.url));
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
async function spawnWorker(
  mode: 'clean' | 'hung' | 'throws' | 'rejects',
  keyNamespace: string,
): Promise<Spawned> {
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
    stderrLines: () => jsonLines(stderr),
  };
}

function jsonLines(text: string): Record<string, unknown>[] {
  return text
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
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

  for (const [mode, fault, message] of [
    ['throws', 'uncaught-exception', 'fixture: thrown in a timer callback'],
    ['rejects', 'unhandled-rejection', 'fixture: rejected with nobody listening'],
  ] as const) {
    it(`finding 4.6: an ${fault.replace('-', ' ')} is logged with its stack and ends in an orderly shutdown with exit 1`, async () => {
      const keyNamespace = `${uniqueName('proc_fault')}:`;
      const worker = await spawnWorker(mode, keyNamespace);
      expect(await worker.exited).toEqual({ code: 1, signal: null });
      const lines = worker.stderrLines();
      const logged = lines.find((line) => line.fault === fault && line.level === 'error');
      expect(logged, JSON.stringify(lines)).toMatchObject({ err: { message } });
      expect(String((logged?.err as { stack?: unknown }).stack)).toContain('supervised-process.ts');
      // Orderly: the children were stopped and the hooks ran (the heartbeat key is deleted, not left to expire).
      expect(lines.at(-1)).toMatchObject({
        msg: 'process exiting after an unclean shutdown',
        exitCode: 1,
        trigger: fault,
        snapshot: { children: [{ name: 'consumer', state: 'stopped' }] },
        hooks: [
          { name: 'heartbeat', outcome: 'closed' },
          { name: 'redis', outcome: 'closed' },
        ],
      });
      expect((await listHeartbeats({ redis, keyNamespace })).live).toEqual([]);
    });
  }

  it('finding 4.5: a worker started with an IPC channel shuts down in order when its launcher is SIGKILLed', async () => {
    const keyNamespace = `${uniqueName('proc_parent')}:`;
    const dir = await mkdtemp(join(tmpdir(), 'supervisor-parent-'));
    const stderrFile = join(dir, 'worker.stderr');
    const launcher = spawn(process.execPath, [launcherScript, 'clean', redisUrl, keyNamespace, stderrFile], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let stdout = '';
    launcher.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    let workerPid: number | undefined;
    try {
      await waitFor(() => /worker \d+ ready/.test(stdout), {
        timeoutMs: 20_000,
        description: 'the launcher to report its worker ready',
      });
      workerPid = Number(/worker (\d+) ready/.exec(stdout)?.[1]);
      const launcherExited = once(launcher, 'exit');
      launcher.kill('SIGKILL');
      await launcherExited;
      const pid = workerPid;
      await waitFor(() => !isRunning(pid), {
        timeoutMs: 15_000,
        description: `worker ${pid} to exit after its launcher was killed`,
      });
      const last = jsonLines(await readFile(stderrFile, 'utf8')).at(-1);
      expect(last).toMatchObject({ msg: 'process exiting cleanly', exitCode: 0, trigger: 'parent-gone' });
      expect((await listHeartbeats({ redis, keyNamespace })).live).toEqual([]);
    } finally {
      if (launcher.exitCode === null && launcher.signalCode === null) launcher.kill('SIGKILL');
      if (workerPid !== undefined && isRunning(workerPid)) process.kill(workerPid, 'SIGKILL');
      await rm(dir, { recursive: true, force: true });
    }
  });
});
