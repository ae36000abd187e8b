import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { ServiceStartError } from '../errors.ts';
import { pollUntil, tail, terminateIfCommand } from '../process.ts';
import { spawnDetached } from './detached.ts';
import type { EtcdMember, HaOptions } from './ha-options.ts';

/** A process `up --ha` started, recorded in the state file so `down` stops it. */
export interface StartedHaProcess {
  name: string;
  pid: number;
}

export function etcdMemberDir(ha: HaOptions, member: EtcdMember): string {
  return join(ha.dir, 'etcd', member.name);
}

/** True when the member answers `GET /health` with `{"health":"true"}` (it has a quorum). */
export async function etcdMemberHealthy(ha: HaOptions, member: EtcdMember): Promise<boolean> {
  try {
    const response = await fetch(`http://${ha.host}:${member.clientPort}/health`, {
      signal: AbortSignal.timeout(2_000),
    });
    const body = (await response.json()) as { health?: string };
    return body.health === 'true';
  } catch {
    return false;
  }
}

/** True when something answers HTTP on the member's client port (healthy or still without quorum). */
export async function etcdMemberAnswers(ha: HaOptions, member: EtcdMember): Promise<boolean> {
  try {
    await fetch(`http://${ha.host}:${member.clientPort}/version`, { signal: AbortSignal.timeout(2_000) });
    return true;
  } catch {
    return false;
  }
}

/**
 * Makes the 3-member etcd cluster answer: starts each member that does not answer (its data
 * under `<ha.dir>/etcd/<name>/`; the `--initial-cluster*` flags only matter on the first start,
 * an existing data dir keeps its membership), then waits until every member reports healthy.
 * Returns the members it started.
 */
export async function ensureEtcdCluster(
  ha: HaOptions,
  log: (message: string) => void,
  onStarted: (started: StartedHaProcess) => Promise<void>,
): Promise<StartedHaProcess[]> {
  const initialCluster = ha.etcd
    .map((member) => `${member.name}=http://${ha.host}:${member.peerPort}`)
    .join(',');
  const started: StartedHaProcess[] = [];
  for (const member of ha.etcd) {
    if (await etcdMemberAnswers(ha, member)) continue;
    const dir = etcdMemberDir(ha, member);
    await mkdir(dir, { recursive: true });
    log(`starting etcd ${member.name} on ${ha.host}:${member.clientPort}`);
    const pid = await spawnDetached(
      ha.commands.etcd,
      [
        '--name',
        member.name,
        '--data-dir',
        join(dir, 'data'),
        '--listen-client-urls',
        `http://${ha.host}:${member.clientPort}`,
        '--advertise-client-urls',
        `http://${ha.host}:${member.clientPort}`,
        '--listen-peer-urls',
        `http://${ha.host}:${member.peerPort}`,
        '--initial-advertise-peer-urls',
        `http://${ha.host}:${member.peerPort}`,
        '--initial-cluster',
        initialCluster,
        '--initial-cluster-token',
        `backbone-${ha.scope}`,
        '--initial-cluster-state',
        'new',
      ],
      { logFile: join(dir, 'etcd.log') },
    );
    const process = { name: member.name, pid };
    started.push(process);
    await onStarted(process);
  }
  const healthy = await pollUntil(
    async () => (await Promise.all(ha.etcd.map((member) => etcdMemberHealthy(ha, member)))).every(Boolean),
    ha.startTimeoutMs,
    100,
  );
  if (!healthy) {
    const logs = await Promise.all(
      ha.etcd.map(
        async (member) => `${member.name}:\n${await tail(join(etcdMemberDir(ha, member), 'etcd.log'), 5)}`,
      ),
    );
    throw new ServiceStartError(
      'ha',
      `the etcd cluster did not become healthy within ${ha.startTimeoutMs} ms; the members' last log lines:\n${logs.join('\n')}`,
    );
  }
  return started;
}

/** True when the member is the Raft leader (`POST /v3/maintenance/status`: its id is the leader's). */
export async function etcdMemberIsLeader(ha: HaOptions, member: EtcdMember): Promise<boolean> {
  try {
    const response = await fetch(`http://${ha.host}:${member.clientPort}/v3/maintenance/status`, {
      method: 'POST',
      body: '{}',
      signal: AbortSignal.timeout(2_000),
    });
    const status = (await response.json()) as { header?: { member_id?: string }; leader?: string };
    return status.leader !== undefined && status.header?.member_id === status.leader;
  } catch {
    return false;
  }
}

/** Stops an etcd member `up --ha` started (SIGTERM; only when the pid still runs etcd). */
export async function stopEtcdMember(started: StartedHaProcess): Promise<void> {
  await terminateIfCommand(started.pid, 'etcd', 15_000);
}
