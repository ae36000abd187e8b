import { readdir, readFile, readlink } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { redactText } from '@backbone/config';

/** The process found listening on a port: its pid and (redacted) command line. */
export interface PortHolder {
  pid: number;
  command: string;
  /** The backbone worker it runs (`stream-bridge` …), when it is one of ours. */
  worker: string | undefined;
}

/**
 * A worker could not listen because another process holds its port. The message names the port
 * and, when it can be found, the holder: a leftover worker of an earlier run is the usual one.
 */
export class PortInUseError extends Error {
  override readonly name = 'PortInUseError';
  readonly port: number;
  readonly host: string | undefined;
  readonly holder: PortHolder | undefined;

  constructor(port: number, host: string | undefined, holder: PortHolder | undefined, cause: unknown) {
    const where = `port ${port}${host === undefined ? '' : ` on ${host}`}`;
    const who =
      holder === undefined
        ? 'by a process this user cannot see (check with `ss -ltnp`)'
        : `by pid ${holder.pid}${holder.worker === undefined ? '' : ` (the backbone ${holder.worker} worker, probably left over from an earlier run)`}: ${holder.command}`;
    super(`${where} is already in use ${who}; stop that process or configure another port`, { cause });
    this.port = port;
    this.host = host;
    this.holder = holder;
  }
}

/**
 * `server.listen(port, host)`, resolved once listening; a port already in use rejects with a
 * {@link PortInUseError} naming the process holding it.
 *
 * @example await listenOrExplain(server, 8080, '127.0.0.1');
 */
export async function listenOrExplain(server: Server, port: number, host: string | undefined): Promise<void> {
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw error;
    throw new PortInUseError(port, host, await findPortHolder(port), error);
  }
}

/**
 * Fails with a {@link PortInUseError} when `port` is taken, for a process that binds it later
 * (the readiness-reporter serves its port from a supervised child): its start-up error is then
 * clear and immediate instead of a child failing on every restart until the supervisor escalates.
 */
export async function assertPortFree(port: number, host: string | undefined): Promise<void> {
  const server = createServer();
  await listenOrExplain(server, port, host);
  await new Promise<void>((resolve) => {
    server.close(() => {
      resolve();
    });
  });
}

/** TCP state 0A in /proc/net/tcp{,6}: LISTEN. */
const TCP_LISTEN = '0A';
const WORKER_MAIN = /apps\/([a-z-]+)\/src\/main\.ts/;

/**
 * The process listening on a TCP port, found the way `ss -ltnp` does it: the listening socket's
 * inode from /proc/net/tcp{,6}, then the process with a descriptor on `socket:[inode]`. Only
 * processes this user may inspect are seen; without /proc (not Linux) the answer is `undefined`.
 */
export async function findPortHolder(port: number): Promise<PortHolder | undefined> {
  const inodes = new Set<string>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    const text = await readFile(table, 'utf8').catch(() => '');
    for (const line of text.split('\n').slice(1)) {
      // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
      const fields = line.trim().split(/\s+/);
      const [, local, , state, , , , , , inode] = fields;
      if (local === undefined || state !== TCP_LISTEN || inode === undefined || inode === '0') continue;
      if (Number.parseInt(local.slice(local.lastIndexOf(':') + 1), 16) === port)
        inodes.add(`socket:[${inode}]`);
    }
  }
  if (inodes.size === 0) return undefined;
  const pids = (await readdir('/proc').catch(() => [])).filter((entry) => /^\d+$/.test(entry));
  for (const pid of pids) {
    const fds = await readdir(`/proc/${pid}/fd`).catch(() => []);
    for (const fd of fds) {
      const target = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '');
      if (!inodes.has(target)) continue;
      const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
      // Command lines carry --set arguments, which may hold credentials.
      const command = redactText(cmdline.split('\0').filter(Boolean).join(' ')).slice(0, 300);
      return { pid: Number(pid), command, worker: WORKER_MAIN.exec(command)?.[1] };
    }
  }
  return undefined;
}
