import pg from 'pg';
import { ServiceStartError } from '../errors.ts';
import { pollUntil } from '../process.ts';
import { restUrl, type HaOptions, type PatroniNode } from './ha-options.ts';
import { patroniCluster, patroniNodeStatus, postmasterPid, type PatroniClusterMember } from './patroni.ts';

/** The node Patroni names leader, with its running state. */
export interface HaPrimary {
  node: PatroniNode;
  member: PatroniClusterMember;
}

/** The current leader and its synchronous standby, from Patroni `/cluster`; undefined when either is missing. */
export async function haPrimaryAndStandby(
  ha: HaOptions,
): Promise<{ primary: HaPrimary; standby: HaPrimary } | undefined> {
  const members = await patroniCluster(ha);
  const find = (role: string): HaPrimary | undefined => {
    const member = members?.find((candidate) => candidate.role === role && candidate.state === 'running');
    const node = member && ha.nodes.find((candidate) => candidate.name === member.name);
    return member && node ? { node, member } : undefined;
  };
  const primary = find('leader');
  const standby = find('sync_standby');
  return primary && standby ? { primary, standby } : undefined;
}

/**
 * True when Patroni reports a running leader and a running synchronous standby, and the leader's
 * pg_stat_replication shows that standby streaming with sync_state `sync`.
 */
export async function synchronousPairReady(ha: HaOptions): Promise<boolean> {
  const pair = await haPrimaryAndStandby(ha);
  if (!pair) return false;
  const status = await patroniNodeStatus(ha, pair.primary.node);
  return (
    status?.replication?.some(
      (entry) =>
        entry.application_name === pair.standby.node.name &&
        entry.state === 'streaming' &&
        entry.sync_state === 'sync',
    ) ?? false
  );
}

/** True when the node's Patroni answers `GET /primary` with 200 (it runs as the writable primary). */
async function answersAsPrimary(ha: HaOptions, node: PatroniNode): Promise<boolean> {
  try {
    const response = await fetch(`${restUrl(ha, node)}/primary`, { signal: AbortSignal.timeout(1_000) });
    await response.body?.cancel();
    return response.status === 200;
  } catch {
    return false;
  }
}

/** True when SQL through HAProxy reaches `node` as a writable server. */
async function proxyReaches(ha: HaOptions, node: PatroniNode): Promise<boolean> {
  const client = new pg.Client({
    host: ha.host,
    port: ha.proxyPort,
    user: ha.user,
    database: 'postgres',
    connectionTimeoutMillis: 1_000,
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
    const { rows } = await client.query<{ port: number; recovery: boolean }>(
      'select inet_server_port() as port, pg_is_in_recovery() as recovery',
    );
    return rows[0]?.port === node.port && !rows[0].recovery;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Milliseconds from `start` (a `performance.now()`) until `condition` holds; throws after `timeoutMs`. */
async function timeUntil(
  condition: () => Promise<boolean>,
  start: number,
  timeoutMs: number,
  what: string,
): Promise<number> {
  const met = await pollUntil(condition, timeoutMs - (performance.now() - start), 50);
  if (!met) throw new ServiceStartError('ha', `${what} did not happen within ${timeoutMs} ms`);
  return Math.round(performance.now() - start);
}

/** Times of one failover or switchover, each counted from the moment it was triggered. */
export interface FailoverTimes {
  oldPrimary: string;
  newPrimary: string;
  /** When the SIGKILL was sent / the switchover requested (ISO). */
  triggeredAt: string;
  /** Until Patroni no longer reports the old primary as the running leader. */
  detectionMs: number;
  /** Until the new primary answers Patroni's `GET /primary` (promoted, writable). */
  failoverMs: number;
  /** Until SQL through HAProxy reaches the new primary (what the workers see). */
  proxyMs: number;
  /** Until the old primary is back as streaming synchronous standby (pg_rewind when needed); undefined when not awaited. */
  rejoinMs: number | undefined;
}

export interface FailoverOptions {
  /** Give up after this long (default 60 s). */
  timeoutMs?: number;
  /** Also wait for the old primary to rejoin as synchronous standby (default true). */
  awaitRejoin?: boolean;
}

async function measure(
  ha: HaOptions,
  pair: { primary: HaPrimary; standby: HaPrimary },
  start: number,
  triggeredAt: string,
  { timeoutMs = 60_000, awaitRejoin = true }: FailoverOptions,
): Promise<FailoverTimes> {
  const oldPrimary = pair.primary.node;
  const newPrimary = pair.standby.node;
  const detectionMs = await timeUntil(
    async () => {
      const members = await patroniCluster(ha);
      const leader = members?.find((member) => member.role === 'leader');
      return leader?.name !== oldPrimary.name || leader.state !== 'running';
    },
    start,
    timeoutMs,
    `Patroni noticing that ${oldPrimary.name} is no longer primary`,
  );
  const failoverMs = await timeUntil(
    () => answersAsPrimary(ha, newPrimary),
    start,
    timeoutMs,
    `${newPrimary.name} becoming primary`,
  );
  const proxyMs = await timeUntil(
    () => proxyReaches(ha, newPrimary),
    start,
    timeoutMs,
    `HAProxy reaching ${newPrimary.name}`,
  );
  const rejoinMs = awaitRejoin
    ? await timeUntil(
        async () => {
          const now = await haPrimaryAndStandby(ha);
          return now?.standby.node.name === oldPrimary.name && (await synchronousPairReady(ha));
        },
        start,
        timeoutMs,
        `${oldPrimary.name} rejoining as synchronous standby`,
      )
    : undefined;
  return {
    oldPrimary: oldPrimary.name,
    newPrimary: newPrimary.name,
    triggeredAt,
    detectionMs,
    failoverMs,
    proxyMs,
    rejoinMs,
  };
}

async function requirePair(ha: HaOptions): Promise<{ primary: HaPrimary; standby: HaPrimary }> {
  const pair = (await synchronousPairReady(ha)) ? await haPrimaryAndStandby(ha) : undefined;
  if (!pair) {
    throw new ServiceStartError(
      'ha',
      'the HA cluster has no running primary with a streaming synchronous standby; `./backbone stack up --ha` first',
    );
  }
  return pair;
}

/**
 * Unplanned failover: SIGKILLs the primary's postmaster (its pid from `postmaster.pid`), then
 * measures until Patroni notices, the synchronous standby is promoted, HAProxy reaches it, and
 * (by default) the old primary is back as synchronous standby. Needs a synchronous pair to start.
 *
 * @example const times = await killPrimaryPostmaster(options.ha); // { detectionMs, failoverMs, … }
 */
export async function killPrimaryPostmaster(
  ha: HaOptions,
  options: FailoverOptions = {},
): Promise<FailoverTimes> {
  const pair = await requirePair(ha);
  const pid = await postmasterPid(ha, pair.primary.node);
  if (pid === undefined) {
    throw new ServiceStartError('ha', `no postmaster.pid for the primary ${pair.primary.node.name}`);
  }
  const start = performance.now();
  const triggeredAt = new Date().toISOString();
  process.kill(pid, 'SIGKILL');
  return measure(ha, pair, start, triggeredAt, options);
}

/**
 * Planned switchover through Patroni's REST API (`POST /switchover` from the primary to its
 * synchronous standby), measured like {@link killPrimaryPostmaster}.
 *
 * @example const times = await switchover(options.ha);
 */
export async function switchover(ha: HaOptions, options: FailoverOptions = {}): Promise<FailoverTimes> {
  const pair = await requirePair(ha);
  const start = performance.now();
  const triggeredAt = new Date().toISOString();
  const response = await fetch(`${restUrl(ha, pair.primary.node)}/switchover`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ leader: pair.primary.node.name, candidate: pair.standby.node.name }),
    signal: AbortSignal.timeout(options.timeoutMs ?? 60_000),
  });
  const answer = await response.text();
  if (!response.ok) {
    throw new ServiceStartError('ha', `Patroni refused the switchover (HTTP ${response.status}): ${answer}`);
  }
  return measure(ha, pair, start, triggeredAt, options);
}
