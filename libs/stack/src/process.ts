import { execFile, spawn } from 'node:child_process';
import { open, readdir, readFile, readlink } from 'node:fs/promises';
import { connect } from 'node:net';
import type { ListeningProcess } from './errors.ts';

export interface RunResult {
  stdout: string;
  stderr: string;
}

/** Thrown by {@link run} when the program exits non-zero; `code` is `ENOENT` when it is not installed. */
export class CommandFailedError extends Error {
  override readonly name = 'CommandFailedError';
  readonly command: string;
  readonly code: string | number | undefined;
  readonly stderr: string;

  constructor(command: string, code: string | number | undefined, stderr: string, options?: ErrorOptions) {
    super(`${command} failed (${String(code)}): ${stderr.trim().split('\n').slice(-5).join(' | ')}`, options);
    this.command = command;
    this.code = code;
    this.stderr = stderr;
  }
}

/** Runs a program to completion (no shell), returning its output or throwing {@link CommandFailedError}. */
export function run(
  file: string,
  args: readonly string[],
  { timeoutMs = 60_000, cwd }: { timeoutMs?: number; cwd?: string } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    execFile(
      file,
      args,
      { timeout: timeoutMs, cwd, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error) {
          reject(
            new CommandFailedError(
              [file, ...args].join(' '),
              error.code ?? error.signal ?? undefined,
              stderr || error.message,
              { cause: error },
            ),
          );
        } else {
          resolve({ stdout, stderr });
        }
      },
    );
  });
}

/**
 * Like {@link run}, but appends the program's output to `logFile` instead of keeping it in memory:
 * for long, chatty steps (compiling TimescaleDB) whose log the operator may want to read. On a
 * non-zero exit the error carries the log's last lines.
 */
export async function runLogged(
  file: string,
  args: readonly string[],
  { logFile, cwd, timeoutMs }: { logFile: string; cwd?: string; timeoutMs: number },
): Promise<void> {
  const command = [file, ...args].join(' ');
  const log = await open(logFile, 'a');
  try {
    await log.write(`\n$ ${command}\n`);
    const child = spawn(file, args, { cwd, stdio: ['ignore', log.fd, log.fd] });
    const timer = setTimeout(() => {
      child.kill('SIGTERM');
    }, timeoutMs);
    const exit = await new Promise<{ code: number | null; signal: string | null; error?: Error }>(
      (resolve) => {
        child.once('error', (error) => {
          resolve({ code: null, signal: null, error });
        });
        child.once('exit', (code, signal) => {
          resolve({ code, signal });
        });
      },
    ).finally(() => {
      clearTimeout(timer);
    });
    if (exit.error) {
      throw new CommandFailedError(command, (exit.error as NodeJS.ErrnoException).code, exit.error.message, {
        cause: exit.error,
      });
    }
    if (exit.code !== 0) {
      throw new CommandFailedError(command, exit.code ?? exit.signal ?? undefined, await tail(logFile, 15));
    }
  } finally {
    await log.close();
  }
}

/** True when `file` can be executed (it exists on PATH or as a path). */
export async function isInstalled(
  file: string,
  versionArgs: readonly string[] = ['--version'],
): Promise<boolean> {
  try {
    await run(file, versionArgs, { timeoutMs: 30_000 });
    return true;
  } catch (error) {
    return !(error instanceof CommandFailedError && error.code === 'ENOENT');
  }
}

/** True when a TCP connection to host:port is accepted within `timeoutMs`. */
export function isPortOpen(host: string, port: number, timeoutMs = 1_000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (open: boolean): void => {
      socket.destroy();
      resolve(open);
    };
    socket.setTimeout(timeoutMs, () => {
      done(false);
    });
    socket.once('connect', () => {
      done(true);
    });
    socket.once('error', () => {
      done(false);
    });
  });
}

/** True while a process with this pid exists (signal 0 probes without delivering anything). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The command line of a running process, or undefined when it is gone or unreadable. */
export async function commandLine(pid: number): Promise<string | undefined> {
  try {
    const raw = await readFile(`/proc/${pid}/cmdline`, 'utf8');
    return raw.split('\0').filter(Boolean).join(' ');
  } catch {
    return undefined;
  }
}

/**
 * SIGTERM, then SIGKILL when the process has not exited after `graceMs`. Resolves once it is gone.
 */
export async function terminate(pid: number, graceMs = 30_000): Promise<void> {
  if (!isAlive(pid)) return;
  process.kill(pid, 'SIGTERM');
  if (await pollUntil(() => !isAlive(pid), graceMs, 100)) return;
  process.kill(pid, 'SIGKILL');
  await pollUntil(() => !isAlive(pid), 5_000, 50);
}

/**
 * {@link terminate}, but only when the pid still runs `marker`: after a reboot the recorded pid
 * may belong to an unrelated process, which `down` must not kill.
 */
export async function terminateIfCommand(pid: number, marker: string, graceMs: number): Promise<void> {
  const command = await commandLine(pid);
  if (command?.includes(marker)) await terminate(pid, graceMs);
}

/** Evaluates `condition` until it is true or `timeoutMs` passed; resolves with the last result. */
export async function pollUntil(
  condition: () => boolean | Promise<boolean>,
  timeoutMs: number,
  intervalMs: number,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await condition()) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/**
 * Which process listens on a TCP port, from /proc/net/tcp{,6} and /proc/<pid>/fd. Undefined when
 * nothing listens, the platform has no /proc, or the process belongs to another user.
 */
export async function findListener(port: number): Promise<ListeningProcess | undefined> {
  const inodes = new Set<string>();
  const portHex = port.toString(16).toUpperCase().padStart(4, '0');
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    const text = await readFile(table, 'utf8').catch(() => '');
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      // fields: sl, local_address, rem_address, st, …, inode at index 9; st 0A is LISTEN.
      if (fields[1]?.endsWith(`:${portHex}`) && fields[3] === '0A' && fields[9]) inodes.add(fields[9]);
    }
  }
  if (inodes.size === 0) return undefined;
  const pids = (await readdir('/proc').catch(() => [])).filter((entry) => /^\d+$/.test(entry));
  for (const pid of pids) {
    const fds = await readdir(`/proc/${pid}/fd`).catch(() => []);
    for (const fd of fds) {
      const target = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '');
      const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
      if (inode && inodes.has(inode)) {
        const command = (await commandLine(Number(pid))) ?? '?';
        return { pid: Number(pid), command: command.length > 160 ? `${command.slice(0, 157)}...` : command };
      }
    }
  }
  return undefined;
}

/** The last `lines` lines of a text file, or an empty string when it does not exist. */
export async function tail(file: string, lines = 20): Promise<string> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}
