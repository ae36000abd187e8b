import { join } from 'node:path';
import { freePort } from '../free-port.ts';

/** One member of the 3-member etcd cluster Patroni keeps its leader lock in. */
export interface EtcdMember {
  name: string;
  /** Client URL port (the v3 gRPC gateway Patroni's `etcd3` talks to). */
  clientPort: number;
  /** Raft peer port. */
  peerPort: number;
}

/** One Patroni-managed PostgreSQL node. */
export interface PatroniNode {
  name: string;
  /** PostgreSQL's port. */
  port: number;
  /** Patroni's REST API port (`GET /primary`, `/cluster`, `POST /switchover`). */
  restPort: number;
}

/** The HA cluster of `./backbone stack up --ha` (docs/stack.md, "PostgreSQL HA"). */
export interface HaOptions {
  /** `up` starts the HA cluster too (`./backbone stack up --ha`). */
  enabled: boolean;
  /** Data, configuration and logs of etcd, Patroni and HAProxy. Default `<cacheDir>/ha`. */
  dir: string;
  /** Patroni's cluster name (`scope`), also the etcd key prefix `/backbone/<scope>/`. */
  scope: string;
  host: string;
  etcd: [EtcdMember, EtcdMember, EtcdMember];
  nodes: [PatroniNode, PatroniNode];
  /** HAProxy's read-write port: forwards to whichever node answers Patroni's `GET /primary`. */
  proxyPort: number;
  user: string;
  /** Created on the primary by `up` when missing. */
  database: string;
  /**
   * Patroni's `synchronous_mode_strict`. Off (the default): when the standby is gone the primary
   * keeps accepting writes without a synchronous standby (readiness warns). On: writes block until
   * a synchronous standby is back. Either way Patroni only promotes the synchronous standby, so a
   * failover loses no acknowledged commit (docs/stack.md).
   */
  synchronousModeStrict: boolean;
  /** PostgreSQL's bin directory (must have TimescaleDB installed); default: the newest that has it. */
  postgresBinDir: string | undefined;
  /** Programs, overridable so a test can point at a missing one. */
  commands: { etcd: string; patroni: string; haproxy: string };
  /** How long `up` waits for the leader, the synchronous standby and the proxy. */
  startTimeoutMs: number;
}

export type HaOptionsInput = Partial<Omit<HaOptions, 'commands'>> & {
  commands?: Partial<HaOptions['commands']>;
};

/**
 * The HA cluster's settings: loopback ports that collide with nothing else of the stack
 * (PostgreSQL 5432/5433, Redis 6379, Kafka 9092/9093), any field overridden.
 *
 * @example const ha = haOptions({ enabled: true }, '.cache'); // proxy on 127.0.0.1:5440
 */
export function haOptions(input: HaOptionsInput, cacheDir: string): HaOptions {
  return {
    enabled: input.enabled ?? false,
    dir: input.dir ?? join(cacheDir, 'ha'),
    scope: input.scope ?? 'backbone',
    host: input.host ?? '127.0.0.1',
    // Not etcd's own 2379/2380: Debian's etcd-server package runs a system etcd there.
    etcd: input.etcd ?? [
      { name: 'etcd1', clientPort: 2381, peerPort: 2382 },
      { name: 'etcd2', clientPort: 2383, peerPort: 2384 },
      { name: 'etcd3', clientPort: 2385, peerPort: 2386 },
    ],
    nodes: input.nodes ?? [
      { name: 'pg1', port: 5441, restPort: 8008 },
      { name: 'pg2', port: 5442, restPort: 8009 },
    ],
    proxyPort: input.proxyPort ?? 5440,
    user: input.user ?? 'postgres',
    database: input.database ?? 'backbone',
    synchronousModeStrict: input.synchronousModeStrict ?? false,
    postgresBinDir: input.postgresBinDir,
    commands: { etcd: 'etcd', patroni: 'patroni', haproxy: 'haproxy', ...input.commands },
    startTimeoutMs: input.startTimeoutMs ?? 90_000,
  };
}

/** What clients of the HA cluster use. */
export interface HaEndpoints {
  /** Through HAProxy: always the current primary (read-write). */
  databaseUrl: string;
  /** Each node's Patroni REST API: the `database.ha.patroniUrls` readiness reads. */
  patroniUrls: string[];
  /** Each node's PostgreSQL directly (for the standby's reads in tests and drills). */
  nodeUrls: Record<string, string>;
}

/**
 * @example new pg.Client(haEndpoints(stackOptions({ ha: { enabled: true } }).ha).databaseUrl)
 */
export function haEndpoints(ha: HaOptions): HaEndpoints {
  const url = (port: number): string =>
    `postgres://${encodeURIComponent(ha.user)}@${ha.host}:${port}/${ha.database}`;
  return {
    databaseUrl: url(ha.proxyPort),
    patroniUrls: ha.nodes.map((node) => restUrl(ha, node)),
    nodeUrls: Object.fromEntries(ha.nodes.map((node) => [node.name, url(node.port)])),
  };
}

export function restUrl(ha: Pick<HaOptions, 'host'>, node: PatroniNode): string {
  return `http://${ha.host}:${node.restPort}`;
}

/**
 * HA settings on free loopback ports, for a private cluster next to the stack's own (tests, the
 * failover drill): nothing collides with the shared stack or another run.
 *
 * @example const ha = haOptions({ ...(await freeHaPorts()), enabled: true }, tmpCacheDir);
 */
export async function freeHaPorts(): Promise<Pick<HaOptions, 'etcd' | 'nodes' | 'proxyPort'>> {
  const etcdMember = async (name: string): Promise<EtcdMember> => ({
    name,
    clientPort: await freePort(),
    peerPort: await freePort(),
  });
  const node = async (name: string): Promise<PatroniNode> => ({
    name,
    port: await freePort(),
    restPort: await freePort(),
  });
  return {
    etcd: [await etcdMember('etcd1'), await etcdMember('etcd2'), await etcdMember('etcd3')],
    nodes: [await node('pg1'), await node('pg2')],
    proxyPort: await freePort(),
  };
}
