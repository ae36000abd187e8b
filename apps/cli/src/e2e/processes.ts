import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The repository root: `./backbone` lives there. */
export const ROOT = join(import.meta.dirname, '../../../..');
const LAUNCHER = join(ROOT, 'backbone');

/** What a finished `./backbone …` command printed and returned. */
export interface CommandOutcome {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `./backbone <args>` to completion; a non-zero exit is returned, not thrown. `env` is the
 * child's whole environment; without it the child inherits this process's. A command still
 * running after `timeoutMs` is killed and the call throws (it never finished).
 */
export async function backbone(
  args: readonly string[],
  env?: Readonly<Record<string, string>>,
  timeoutMs?: number,
): Promise<CommandOutcome> {
  try {
    const { stdout, stderr } = await run(LAUNCHER, [...args], {
      cwd: ROOT,
      ...(env === undefined ? {} : { env: { ...env } }),
      ...(timeoutMs === undefined ? {} : { timeout: timeoutMs }),
      maxBuffer: 64 * 1024 * 1024,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: unknown; stdout?: string; stderr?: string };
    if (typeof failed.code !== 'number') throw error;
    return { code: failed.code, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' };
  }
}

/** One `./backbone serve <worker>` process and everything it printed so far. */
export interface WorkerProcess {
  readonly name: string;
  readonly port: number;
  readonly child: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  output(): string;
}

/** Starts `./backbone serve <worker> <args>` exactly as `npm start` does (the launcher execs the worker). */
export function serveWorker(
  name: string,
  port: number,
  args: readonly string[],
  env: Readonly<Record<string, string>>,
): WorkerProcess {
  const child = spawn(LAUNCHER, ['serve', name, ...args], {
    cwd: ROOT,
    env: { ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  const exited = once(child, 'exit').then(([code, signal]) => ({
    code: code as number | null,
    signal: signal as NodeJS.Signals | null,
  }));
  return { name, port, child, exited, output: () => output };
}

/** The JSON log lines of a process's output (anything else, e.g. a warning, is skipped). */
export function jsonLines(output: string): Record<string, unknown>[] {
  const lines: Record<string, unknown>[] = [];
  for (const line of output.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      lines.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      // a partial or interleaved line is not a log record
    }
  }
  return lines;
}

/** Every `state` in a supervisor snapshot, nested supervisors included, as `path: state`. */
export function childStates(snapshot: unknown, path = ''): string[] {
  if (typeof snapshot !== 'object' || snapshot === null) return [];
  const node = snapshot as { name?: unknown; state?: unknown; children?: unknown };
  const here = typeof node.name === 'string' ? `${path}${node.name}` : path;
  const states = typeof node.state === 'string' ? [`${here}: ${node.state}`] : [];
  if (Array.isArray(node.children)) {
    for (const child of node.children) states.push(...childStates(child, `${here}/`));
  }
  return states;
}
