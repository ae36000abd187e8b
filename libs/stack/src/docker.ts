import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { StackError } from './errors.ts';
import type { StackOptions } from './options.ts';
import { run } from './process.ts';

/**
 * The Docker engine's version when one answers, otherwise undefined (no client, no daemon, no
 * permission).
 *
 * @example if (await dockerEngineVersion()) await composeUp(stackOptions());
 */
export async function dockerEngineVersion(): Promise<string | undefined> {
  try {
    const { stdout } = await run('docker', ['info', '--format', '{{.ServerVersion}}'], { timeoutMs: 10_000 });
    return stdout.trim() || undefined;
  } catch {
    return undefined;
  }
}

/**
 * `docker compose -f docker/compose.yaml up -d --wait`: the same four services in containers,
 * waiting for their healthchecks. Refuses with a clear error when no Docker engine answers.
 */
export async function composeUp(options: Pick<StackOptions, 'rootDir'>): Promise<void> {
  if (!(await dockerEngineVersion())) {
    throw new StackError(
      'docker',
      'no Docker engine answers (`docker info` failed); run `./backbone stack up` without --docker to use the local stack',
    );
  }
  const file = join(options.rootDir, 'docker', 'compose.yaml');
  await new Promise<void>((resolve, reject) => {
    const child = spawn('docker', ['compose', '-f', file, 'up', '-d', '--wait'], { stdio: 'inherit' });
    child.once('error', reject);
    child.once('exit', (code) => {
      if (code === 0) resolve();
      else
        reject(
          new StackError('docker', `docker compose up exited with ${String(code)}; see its output above`),
        );
    });
  });
}
