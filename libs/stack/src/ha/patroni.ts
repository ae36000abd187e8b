import { chown, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ServiceStartError } from '../errors.ts';
import { commandLine, isAlive, terminate, terminateIfCommand } from '../process.ts';
import { spawnDetached } from './detached.ts';
import type { StartedHaProcess } from './etcd.ts';
import { restUrl, type HaOptions, type PatroniNode } from './ha-options.ts';
import {
  postgresUserCanWrite,
  runAsPostgresOptions,
  timescaledbServerParameters,
  type PostgresOsUser,
} from './postgres-server.ts';

/** A member as Patroni's `GET /cluster` lists it. */
export interface PatroniClusterMember {
  name: string;
  /** `leader`, `sync_standby`, `replica` (Patroni 3.0). */
  role: string;
  /** `running`, `starting`, `stopped`, `crashed`, `creating replica` … */
  state: string;
  host: string;
  port: number;
  timeline?: number;
  /** Replication lag in bytes as Patroni last saw it (absent on the leader). */
  lag?: number | string;
}

/** A node's own view, `GET /patroni`. */
export interface PatroniNodeStatus {
  state: string;
  /** `master` or `replica` in Patroni 3.0. */
  role: string;
  server_version?: number;
  timeline?: number;
  sync_standby?: boolean;
  /** On the primary: pg_stat_replication as Patroni reads it. */
  replication?: { application_name: string; state: string; sync_state: string }[];
  patroni?: { version: string; scope: string };
}

export function patroniNodeDir(ha: HaOptions, node: PatroniNode): string {
  return join(ha.dir, node.name);
}

export function patroniDataDir(ha: HaOptions, node: PatroniNode): string {
  return join(patroniNodeDir(ha, node), 'data');
}

async function getJson<T>(url: string): Promise<T | undefined> {
  try {
    // Patroni answers health endpoints with 503 and a JSON body too; the body is what we read.
    const response = await fetch(url, { signal: AbortSignal.timeout(2_000) });
    return (await response.json()) as T;
  } catch {
    return undefined;
  }
}

/** `GET /cluster` from the first node whose REST API answers; undefined when none does. */
export async function patroniCluster(ha: HaOptions): Promise<PatroniClusterMember[] | undefined> {
  for (const node of ha.nodes) {
    const body = await getJson<{ members?: PatroniClusterMember[] }>(`${restUrl(ha, node)}/cluster`);
    if (body?.members) return body.members;
  }
  return undefined;
}

/** `GET /patroni` of one node; undefined when its REST API does not answer. */
export function patroniNodeStatus(ha: HaOptions, node: PatroniNode): Promise<PatroniNodeStatus | undefined> {
  return getJson<PatroniNodeStatus>(`${restUrl(ha, node)}/patroni`);
}

/**
 * Patroni's configuration for one node (JSON, which Patroni's YAML loader reads). The `bootstrap`
 * part is written to etcd by the first node and shared; the `postgresql` part is per node.
 */
export function patroniConfig(ha: HaOptions, node: PatroniNode, binDir: string): Record<string, unknown> {
  const dir = patroniNodeDir(ha, node);
  return {
    scope: ha.scope,
    namespace: '/backbone/',
    name: node.name,
    restapi: {
      listen: `${ha.host}:${node.restPort}`,
      connect_address: `${ha.host}:${node.restPort}`,
    },
    etcd3: { hosts: ha.etcd.map((member) => `${ha.host}:${member.clientPort}`) },
    bootstrap: {
      dcs: {
        // A 1 s loop detects a dead postmaster within about a second; the leader lock (ttl)
        // expires after 20 s when a whole node (Patroni included) is gone.
        ttl: 20,
        loop_wait: 1,
        retry_timeout: 5,
        synchronous_mode: true,
        synchronous_mode_strict: ha.synchronousModeStrict,
        // With synchronous replication the standby has every acknowledged commit, so a crashed
        // primary is failed over at once instead of being restarted in place for 300 s.
        primary_start_timeout: 0,
        postgresql: {
          use_pg_rewind: true,
          use_slots: true,
          parameters: {
            ...timescaledbServerParameters(),
            synchronous_commit: 'on',
            // pg_rewind needs hint bits in the WAL (the old primary rejoins after a failover).
            wal_log_hints: 'on',
            max_connections: 200,
            max_wal_senders: 10,
            max_replication_slots: 10,
          },
        },
      },
      initdb: [{ encoding: 'UTF8' }, 'data-checksums'],
    },
    postgresql: {
      listen: `${ha.host}:${node.port}`,
      connect_address: `${ha.host}:${node.port}`,
      data_dir: patroniDataDir(ha, node),
      bin_dir: binDir,
      pgpass: join(dir, 'pgpass'),
      // Loopback only, trust: the same as the stack's single-node cluster (architecture.md).
      authentication: {
        superuser: { username: ha.user },
        replication: { username: 'replicator' },
        rewind: { username: ha.user },
      },
      parameters: { unix_socket_directories: dir },
      // The standby's copy starts with an immediate checkpoint on the primary, not a spread one
      // (which can take minutes of checkpoint_completion_target pacing).
      basebackup: { checkpoint: 'fast' },
      pg_hba: [
        'local all all trust',
        `host all all ${ha.host}/32 trust`,
        `host replication all ${ha.host}/32 trust`,
      ],
    },
  };
}

/**
 * Starts Patroni for each node whose REST API does not answer, as the postgres user, with its
 * configuration, data and log under `<ha.dir>/<node>/`. Patroni itself runs initdb (the first
 * node to take the leader lock) or pg_basebackup (the other). Returns the nodes it started.
 */
export async function startPatroniNodes(
  ha: HaOptions,
  user: PostgresOsUser,
  binDir: string,
  log: (message: string) => void,
  onStarted: (started: StartedHaProcess) => Promise<void>,
): Promise<StartedHaProcess[]> {
  const started: StartedHaProcess[] = [];
  for (const node of ha.nodes) {
    if (await patroniNodeStatus(ha, node)) continue;
    const dir = patroniNodeDir(ha, node);
    await mkdir(dir, { recursive: true });
    await chown(dir, user.uid, user.gid);
    if (!(await postgresUserCanWrite(user, dir))) {
      throw new ServiceStartError(
        'ha',
        `the postgres user cannot write ${dir}: every parent directory must be traversable by it (chmod o+x), ` +
          'or put the stack cache elsewhere',
      );
    }
    const configFile = join(dir, 'patroni.yml');
    await writeFile(configFile, `${JSON.stringify(patroniConfig(ha, node, binDir), null, 2)}\n`);
    log(
      `starting Patroni ${node.name} (PostgreSQL ${ha.host}:${node.port}, REST ${ha.host}:${node.restPort})`,
    );
    const pid = await spawnDetached(ha.commands.patroni, [configFile], {
      logFile: join(dir, 'patroni.log'),
      cwd: dir,
      ...runAsPostgresOptions(user),
    });
    const process = { name: node.name, pid };
    started.push(process);
    await onStarted(process);
  }
  return started;
}

/**
 * Patroni's maintenance mode (`PATCH /config {"pause": …}`): while paused Patroni neither restarts
 * a stopped PostgreSQL nor fails over, so a drill or test can hold the cluster in a broken state.
 */
export async function setPatroniPaused(ha: HaOptions, paused: boolean): Promise<void> {
  const errors: string[] = [];
  for (const node of ha.nodes) {
    try {
      const response = await fetch(`${restUrl(ha, node)}/config`, {
        method: 'PATCH',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ pause: paused }),
        signal: AbortSignal.timeout(5_000),
      });
      if (response.ok) return;
      errors.push(`${node.name}: HTTP ${response.status} ${await response.text()}`);
    } catch (error) {
      errors.push(`${node.name}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  throw new ServiceStartError('ha', `could not ${paused ? 'pause' : 'resume'} Patroni: ${errors.join('; ')}`);
}

/** The postmaster's pid from `postmaster.pid` in the node's data directory. */
export async function postmasterPid(ha: HaOptions, node: PatroniNode): Promise<number | undefined> {
  const text = await readFile(join(patroniDataDir(ha, node), 'postmaster.pid'), 'utf8').catch(() => '');
  const pid = Number(text.split('\n')[0]);
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

/**
 * Stops a Patroni node `up --ha` started: SIGTERM makes Patroni shut PostgreSQL down and exit.
 * When Patroni had to be killed, a postmaster it left behind is stopped too.
 */
export async function stopPatroniNode(ha: HaOptions, started: StartedHaProcess): Promise<void> {
  await terminateIfCommand(started.pid, 'patroni', 60_000);
  const node = ha.nodes.find((candidate) => candidate.name === started.name);
  if (!node) return;
  const postmaster = await postmasterPid(ha, node);
  if (
    postmaster !== undefined &&
    isAlive(postmaster) &&
    (await commandLine(postmaster))?.includes('postgres')
  ) {
    await terminate(postmaster, 30_000);
  }
}
