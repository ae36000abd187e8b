import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { redactText } from '@backbone/config';
import pg from 'pg';
import { MissingToolError, PortInUseError, ServiceStartError, StackError } from '../errors.ts';
import { ensureDatabase } from '../postgres.ts';
import { findListener, isAlive, isInstalled, isPortOpen, pollUntil, tail } from '../process.ts';
import { readState, updateState } from '../state.ts';
import { synchronousPairReady } from './failover.ts';
import {
  etcdMemberAnswers,
  etcdMemberIsLeader,
  ensureEtcdCluster,
  stopEtcdMember,
  type StartedHaProcess,
} from './etcd.ts';
import { haEndpoints, type HaOptions, type PatroniNode } from './ha-options.ts';
import { haproxyRunning, startHaproxy, stopHaproxy } from './haproxy.ts';
import {
  patroniCluster,
  patroniNodeDir,
  patroniNodeStatus,
  startPatroniNodes,
  stopPatroniNode,
  type PatroniClusterMember,
} from './patroni.ts';
import { assertTimescaledbBinDir, postgresOsUser, timescaledbPostgresBinDir } from './postgres-server.ts';

/** What `up --ha` started, in the state file, so `down` stops exactly that. */
export interface HaState {
  etcd: StartedHaProcess[];
  patroni: StartedHaProcess[];
  haproxy?: StartedHaProcess | undefined;
}

/** One Patroni member as `stack status` shows it. */
export interface HaMemberStatus {
  name: string;
  /** `leader`, `sync_standby`, `replica`. */
  role: string;
  /** `running`, `stopped`, `starting` … */
  state: string;
  endpoint: string;
  timeline: number | undefined;
  /** Replication lag in bytes as Patroni reports it (standbys only). */
  lagBytes: number | undefined;
}

const tools = [
  { key: 'etcd', versionArgs: ['--version'], install: 'sudo apt-get install -y etcd-server' },
  { key: 'patroni', versionArgs: ['--version'], install: 'sudo apt-get install -y patroni' },
  { key: 'haproxy', versionArgs: ['-v'], install: 'sudo apt-get install -y haproxy' },
] as const;

async function recordStarted(
  cacheDir: string,
  kind: 'etcd' | 'patroni' | 'haproxy',
  started: StartedHaProcess,
): Promise<void> {
  await updateState(cacheDir, (state) => {
    const ha: HaState = state.ha ?? { etcd: [], patroni: [] };
    if (kind === 'haproxy') ha.haproxy = started;
    else ha[kind] = [...ha[kind].filter((entry) => entry.name !== started.name), started];
    state.ha = ha;
  });
}

/**
 * What a cluster's data is tied to: etcd keeps its members' peer URLs, Patroni its scope and node
 * names. (PostgreSQL, REST and proxy ports may change: Patroni publishes them on each start.)
 */
function clusterLayout(ha: HaOptions): string {
  const layout = { host: ha.host, scope: ha.scope, etcd: ha.etcd, nodes: ha.nodes.map((node) => node.name) };
  return `${JSON.stringify(layout, null, 2)}\n`;
}

function layoutFile(ha: HaOptions): string {
  return join(ha.dir, 'layout.json');
}

/**
 * Refuses to start on data made for other etcd ports or names (etcd would wait forever for peers
 * at the old addresses). The layout is in `<ha.dir>/layout.json`, written by {@link recordClusterLayout}.
 */
async function checkClusterLayout(ha: HaOptions): Promise<void> {
  const file = layoutFile(ha);
  const recorded = await readFile(file, 'utf8').catch(() => undefined);
  if (recorded !== undefined && recorded !== clusterLayout(ha)) {
    throw new ServiceStartError(
      'ha',
      `the HA cluster in ${ha.dir} was created with other etcd ports or node names (${file}); ` +
        `start it with those, or delete ${ha.dir} to create a new cluster (its data is lost)`,
    );
  }
}

/** Records the layout once something is about to be started (a refused `up` records nothing). */
async function recordClusterLayout(ha: HaOptions): Promise<void> {
  await mkdir(ha.dir, { recursive: true });
  await writeFile(layoutFile(ha), clusterLayout(ha));
}

/** Refuses a port another program holds, naming it, before anything is started. */
async function assertPortsFree(ha: HaOptions, ports: { port: number; what: string }[]): Promise<void> {
  for (const { port, what } of ports) {
    if (await isPortOpen(ha.host, port)) {
      throw new PortInUseError('ha', port, await findListener(port), `${what} needs it`);
    }
  }
}

/**
 * Brings the HA cluster up, or finds it up: 3 etcd members, Patroni with PostgreSQL +
 * TimescaleDB on each node (one primary, one synchronous standby), HAProxy on the read-write
 * port; then creates the database on the primary when it is missing. Starts only what does not
 * answer (idempotent) and waits on real conditions: a leader running, the standby streaming and
 * synchronous, and the proxy reaching a server that is not in recovery. When it fails it stops
 * what this call started. Returns what it started.
 *
 * @example await ensureHaCluster(stackOptions({ ha: { enabled: true } }).ha, '.cache', console.log);
 */
export async function ensureHaCluster(
  ha: HaOptions,
  cacheDir: string,
  log: (message: string) => void,
): Promise<StartedHaProcess[]> {
  // In parallel: `patroni --version` alone is a Python start-up (about a second on a busy machine).
  const installed = await Promise.all(
    tools.map((tool) => isInstalled(ha.commands[tool.key], tool.versionArgs)),
  );
  const missing = tools.find((_, index) => !installed[index]);
  if (missing)
    throw new MissingToolError('ha', `${missing.key} (${ha.commands[missing.key]})`, missing.install);
  const user = await postgresOsUser();
  const binDir = ha.postgresBinDir ?? (await timescaledbPostgresBinDir());
  await assertTimescaledbBinDir(binDir);
  await checkClusterLayout(ha);
  const state = await readState(cacheDir);

  const etcdDown = [];
  for (const member of ha.etcd) if (!(await etcdMemberAnswers(ha, member))) etcdDown.push(member);
  const nodesDown = [];
  for (const node of ha.nodes) if (!(await patroniNodeStatus(ha, node))) nodesDown.push(node);
  const proxyDown = !(await haproxyRunning(ha, state.ha?.haproxy));
  await assertPortsFree(ha, [
    ...etcdDown.flatMap((member) => [
      { port: member.clientPort, what: `etcd ${member.name} (client)` },
      { port: member.peerPort, what: `etcd ${member.name} (peer)` },
    ]),
    ...nodesDown.flatMap((node) => [
      { port: node.port, what: `PostgreSQL ${node.name}` },
      { port: node.restPort, what: `Patroni ${node.name} (REST API)` },
    ]),
    ...(proxyDown ? [{ port: ha.proxyPort, what: 'HAProxy (read-write)' }] : []),
  ]);

  await recordClusterLayout(ha);
  const started: { kind: 'etcd' | 'patroni' | 'haproxy'; process: StartedHaProcess }[] = [];
  const onStarted =
    (kind: 'etcd' | 'patroni' | 'haproxy') =>
    async (process: StartedHaProcess): Promise<void> => {
      started.push({ kind, process });
      await recordStarted(cacheDir, kind, process);
    };
  try {
    await ensureEtcdCluster(ha, log, onStarted('etcd'));
    await startPatroniNodes(ha, user, binDir, log, onStarted('patroni'));
    if (proxyDown) await onStarted('haproxy')(await startHaproxy(ha, log));
    await waitForSynchronousPair(
      ha,
      started.filter(({ kind }) => kind === 'patroni').map(({ process }) => process),
    );
    const endpoint = { host: ha.host, port: ha.proxyPort, user: ha.user, database: ha.database };
    await waitForProxyPrimary(ha);
    await ensureDatabase(endpoint);
  } catch (error) {
    for (const { kind, process } of started.reverse()) {
      log(`stopping ${kind} ${process.name}, which this failed \`up --ha\` started`);
      await stopHaProcess(ha, kind, process).catch((stopError: unknown) => {
        log(`could not stop ${kind} ${process.name}: ${String(stopError)}`);
      });
    }
    await updateState(cacheDir, (next) => {
      const stoppedPids = new Set(started.map(({ process }) => process.pid));
      if (!next.ha) return;
      next.ha.etcd = next.ha.etcd.filter((entry) => !stoppedPids.has(entry.pid));
      next.ha.patroni = next.ha.patroni.filter((entry) => !stoppedPids.has(entry.pid));
      if (next.ha.haproxy && stoppedPids.has(next.ha.haproxy.pid)) next.ha.haproxy = undefined;
      if (next.ha.etcd.length === 0 && next.ha.patroni.length === 0 && !next.ha.haproxy) next.ha = undefined;
    });
    if (error instanceof StackError) throw error;
    throw new ServiceStartError(
      'ha',
      `the HA cluster could not be brought up: ${redactText(error instanceof Error ? error.message : String(error))}`,
      { cause: error },
    );
  }
  return started.map(({ process }) => process);
}

function describeMembers(members: PatroniClusterMember[] | undefined): string {
  if (!members) return 'no Patroni REST API answers';
  return (
    members.map((member) => `${member.name} ${member.role} ${member.state}`).join(', ') || 'no members yet'
  );
}

/**
 * The lines of a node's Patroni log that say what went wrong (PostgreSQL's FATAL/ERROR, Patroni's
 * ERROR/CRITICAL), else its last lines: a Python traceback's tail rarely names the cause.
 */
async function patroniLogExcerpt(ha: HaOptions, node: PatroniNode): Promise<string> {
  const text = await tail(join(patroniNodeDir(ha, node), 'patroni.log'), 400);
  const errors = text.split('\n').filter((line) => /\b(FATAL|ERROR|CRITICAL|PANIC)\b|: error:/.test(line));
  return `${node.name}:\n${errors.length > 0 ? errors.slice(-6).join('\n') : text.split('\n').slice(-8).join('\n')}`;
}

/**
 * Waits until Patroni reports a running leader and a running synchronous standby that streams.
 * Gives up at once when a Patroni this call started has exited (it does on a fatal bootstrap
 * error) instead of waiting out the timeout.
 */
async function waitForSynchronousPair(ha: HaOptions, startedPatroni: StartedHaProcess[]): Promise<void> {
  let exited: StartedHaProcess | undefined;
  const ready = await pollUntil(
    async () => {
      exited = startedPatroni.find((process) => !isAlive(process.pid));
      return exited !== undefined || (await synchronousPairReady(ha));
    },
    ha.startTimeoutMs,
    200,
  );
  if (ready && !exited) return;
  const logs = await Promise.all(ha.nodes.map((node) => patroniLogExcerpt(ha, node)));
  const what = exited
    ? `Patroni ${exited.name} exited before the cluster was up`
    : `Patroni did not report a leader and a streaming synchronous standby within ${ha.startTimeoutMs} ms ` +
      `(last seen: ${describeMembers(await patroniCluster(ha))})`;
  throw new ServiceStartError(
    'ha',
    `${what}; from the nodes' logs (${ha.dir}/<node>/patroni.log):\n${logs.join('\n')}`,
  );
}

/** A client of the `postgres` database through HAProxy's read-write port (not connected yet). */
function proxyClient(ha: HaOptions): pg.Client {
  const client = new pg.Client({
    host: ha.host,
    port: ha.proxyPort,
    user: ha.user,
    database: 'postgres',
    connectionTimeoutMillis: 2_000,
  });
  // A server killed mid-probe errors the idle client; the probe's own query reports it.
  client.on('error', () => undefined);
  return client;
}

/** True when SQL through HAProxy reaches a server that is not in recovery. */
async function proxyReachesPrimary(ha: HaOptions): Promise<boolean> {
  const client = proxyClient(ha);
  try {
    await client.connect();
    const result = await client.query<{ recovery: boolean }>('select pg_is_in_recovery() as recovery');
    return result.rows[0]?.recovery === false;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function waitForProxyPrimary(ha: HaOptions): Promise<void> {
  if (await pollUntil(() => proxyReachesPrimary(ha), ha.startTimeoutMs, 100)) return;
  throw new ServiceStartError(
    'ha',
    `HAProxy on ${ha.host}:${ha.proxyPort} did not reach the primary within ${ha.startTimeoutMs} ms; its log:\n` +
      (await tail(join(ha.dir, 'haproxy', 'haproxy.log'), 10)),
  );
}

async function stopHaProcess(
  ha: HaOptions,
  kind: 'etcd' | 'patroni' | 'haproxy',
  process: StartedHaProcess,
): Promise<void> {
  if (kind === 'haproxy') await stopHaproxy(process);
  else if (kind === 'patroni') await stopPatroniNode(ha, process);
  else await stopEtcdMember(process);
}

/**
 * Stops what `up --ha` started: HAProxy, then the standbys' Patroni, then the primary's (so
 * stopping them does not cause a failover), then etcd. Data stays under `<ha.dir>` for the next
 * `up --ha`. Returns whether anything was recorded.
 */
export async function stopHaCluster(ha: HaOptions, cacheDir: string): Promise<boolean> {
  const recorded = (await readState(cacheDir)).ha;
  if (!recorded) return false;
  if (recorded.haproxy) await stopHaproxy(recorded.haproxy);
  const leader = (await patroniCluster(ha))?.find((member) => member.role === 'leader')?.name;
  const patroni = [...recorded.patroni].sort((a, b) => Number(a.name === leader) - Number(b.name === leader));
  for (const node of patroni) await stopPatroniNode(ha, node);
  // The followers together, the leader last: a stopping etcd leader tries to hand its leadership
  // to a connected peer and waits for a timeout when that peer is stopping at the same moment;
  // with no peer left it skips the hand-over.
  const leaders = await Promise.all(
    recorded.etcd.map(async (entry) => {
      const member = ha.etcd.find((candidate) => candidate.name === entry.name);
      return member !== undefined && (await etcdMemberIsLeader(ha, member));
    }),
  );
  await Promise.all(
    recorded.etcd.filter((_, index) => !leaders[index]).map((entry) => stopEtcdMember(entry)),
  );
  await Promise.all(recorded.etcd.filter((_, index) => leaders[index]).map((entry) => stopEtcdMember(entry)));
  await updateState(cacheDir, (state) => {
    state.ha = undefined;
  });
  return true;
}

/**
 * Stops one node's Patroni (and with it that node's PostgreSQL), as `down` would, and forgets
 * it; the next `up --ha` starts it again. For drills and tests: a standby down, or a primary gone.
 */
export async function stopHaNode(ha: HaOptions, cacheDir: string, nodeName: string): Promise<void> {
  const recorded = (await readState(cacheDir)).ha?.patroni.find((entry) => entry.name === nodeName);
  if (!recorded) {
    throw new ServiceStartError(
      'ha',
      `no Patroni node ${nodeName} was started by \`up --ha\` in ${cacheDir}`,
    );
  }
  await stopPatroniNode(ha, recorded);
  await updateState(cacheDir, (state) => {
    if (state.ha) state.ha.patroni = state.ha.patroni.filter((entry) => entry.name !== nodeName);
  });
}

/** The HA cluster as `stack status` reports it: from Patroni's `/cluster` and SQL through the proxy. */
export interface HaClusterStatus {
  /** The read-write URL (HAProxy), redacted. */
  endpoint: string;
  state: 'up' | 'down';
  version: string | undefined;
  members: HaMemberStatus[];
  error: string | undefined;
  warnings: string[];
}

/** Probes the HA cluster: members from Patroni, the primary through HAProxy. */
export async function haClusterStatus(ha: HaOptions): Promise<HaClusterStatus> {
  const endpoint = redactText(haEndpoints(ha).databaseUrl);
  const members = await patroniCluster(ha);
  const memberStatuses: HaMemberStatus[] = (members ?? []).map((member) => ({
    name: member.name,
    role: member.role,
    state: member.state,
    endpoint: `${member.host}:${member.port}`,
    timeline: member.timeline,
    lagBytes: typeof member.lag === 'number' ? member.lag : undefined,
  }));
  const warnings: string[] = [];
  // Only when Patroni answers: with the whole cluster down the row's error says it all.
  if (members) {
    for (const node of ha.nodes) {
      const member = memberStatuses.find((candidate) => candidate.name === node.name);
      if (!member) warnings.push(`${node.name} is not a member (its Patroni is not running)`);
      else if (member.state !== 'running') warnings.push(`${node.name} is ${member.state}`);
    }
    if (!memberStatuses.some((member) => member.role === 'sync_standby' && member.state === 'running')) {
      warnings.push('no synchronous standby: commits are not replicated synchronously');
    }
  }
  const client = proxyClient(ha);
  try {
    await client.connect();
    const result = await client.query<{ version: string }>('select version()');
    return {
      endpoint,
      state: 'up',
      version: result.rows[0]?.version,
      members: memberStatuses,
      error: undefined,
      warnings,
    };
  } catch (error) {
    const why = members
      ? `no primary reachable through HAProxy (${describeMembers(members)})`
      : 'no Patroni REST API answers';
    return {
      endpoint,
      state: 'down',
      version: undefined,
      members: memberStatuses,
      error: `${why}: ${redactText(error instanceof Error ? error.message : String(error))}`,
      warnings,
    };
  } finally {
    await client.end().catch(() => undefined);
  }
}
