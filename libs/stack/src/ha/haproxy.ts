import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isAlive, isPortOpen, terminateIfCommand } from '../process.ts';
import { spawnDetached } from './detached.ts';
import type { StartedHaProcess } from './etcd.ts';
import type { HaOptions } from './ha-options.ts';

export function haproxyDir(ha: HaOptions): string {
  return join(ha.dir, 'haproxy');
}

/**
 * HAProxy in TCP mode on the read-write port, forwarding to the one node whose Patroni answers
 * `GET /primary` with 200 (a replica answers 503). Checked every 500 ms; on a role change the
 * sessions to the old primary are cut (`on-marked-down shutdown-sessions`) so clients reconnect
 * to the new one instead of hanging on a demoted server.
 */
export function haproxyConfig(ha: HaOptions): string {
  const servers = ha.nodes.map(
    (node) => `  server ${node.name} ${ha.host}:${node.port} check port ${node.restPort}`,
  );
  return [
    'global',
    '  maxconn 1000',
    '  log stderr format short daemon notice',
    'defaults',
    '  mode tcp',
    '  log global',
    '  timeout connect 3s',
    // Long idle timeouts: pooled PostgreSQL connections sit idle between queries.
    '  timeout client 30m',
    '  timeout server 30m',
    '  timeout check 2s',
    'listen primary',
    `  bind ${ha.host}:${ha.proxyPort}`,
    '  option httpchk GET /primary',
    '  http-check expect status 200',
    '  default-server inter 500ms fastinter 250ms fall 2 rise 1 on-marked-down shutdown-sessions',
    ...servers,
    '',
  ].join('\n');
}

/** Starts HAProxy (in the foreground mode `-db`, detached by us so its pid is the one we record). */
export async function startHaproxy(ha: HaOptions, log: (message: string) => void): Promise<StartedHaProcess> {
  const dir = haproxyDir(ha);
  await mkdir(dir, { recursive: true });
  const configFile = join(dir, 'haproxy.cfg');
  await writeFile(configFile, haproxyConfig(ha));
  log(
    `starting HAProxy on ${ha.host}:${ha.proxyPort} (read-write: the node whose Patroni answers GET /primary)`,
  );
  const pid = await spawnDetached(ha.commands.haproxy, ['-db', '-f', configFile], {
    logFile: join(dir, 'haproxy.log'),
  });
  return { name: 'haproxy', pid };
}

/** True when the recorded HAProxy still runs and listens. */
export async function haproxyRunning(ha: HaOptions, started: StartedHaProcess | undefined): Promise<boolean> {
  return started !== undefined && isAlive(started.pid) && (await isPortOpen(ha.host, ha.proxyPort));
}

export async function stopHaproxy(started: StartedHaProcess): Promise<void> {
  await terminateIfCommand(started.pid, 'haproxy', 10_000);
}
