import { spawn, type SpawnOptions } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, open } from 'node:fs/promises';
import { dirname } from 'node:path';

/**
 * Starts a long-running program in its own process group with its output appended to
 * `logFile`, so it outlives the CLI that started it. Resolves with its pid once it runs; rejects
 * with the spawn error (`code: 'ENOENT'` when the program is not installed).
 */
export async function spawnDetached(
  file: string,
  args: readonly string[],
  { logFile, cwd, ...options }: { logFile: string; cwd?: string } & Pick<SpawnOptions, 'uid' | 'gid' | 'env'>,
): Promise<number> {
  await mkdir(dirname(logFile), { recursive: true });
  const log = await open(logFile, 'a');
  try {
    const child = spawn(file, args, {
      ...options,
      cwd,
      detached: true,
      stdio: ['ignore', log.fd, log.fd],
    });
    // events.once rejects when 'error' comes first (ENOENT, EACCES).
    await once(child, 'spawn');
    child.unref();
    if (child.pid === undefined) throw new Error(`${file} did not start`);
    return child.pid;
  } finally {
    await log.close();
  }
}
