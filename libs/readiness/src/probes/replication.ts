import { redactText } from '@backbone/config';
import pg from 'pg';
import { combine, formatAge, formatCount, type CheckOutcome, type Finding } from '../check.ts';
import type { CheckDefinition, ProbeContext } from '../run-check.ts';
import type { ReadinessRules } from '../rules.ts';

export interface ReplicationProbeInput {
  /** `database.ha.patroniUrls`: each node's Patroni REST API. */
  patroniUrls: readonly string[];
  /** `database.url`: its user, password and database are used to reach the primary directly. */
  databaseUrl: string;
  rules: Pick<ReadinessRules, 'replicationLag' | 'probeTimeoutMs'>;
}

/** A member as Patroni's `GET /cluster` lists it. */
interface ClusterMember {
  name: string;
  role: string;
  state: string;
  host: string;
  port: number;
  timeline?: number;
  lag?: number | string;
}

/** One row of pg_stat_replication on the primary. */
interface ReplicationRow {
  application_name: string;
  state: string;
  sync_state: string;
  sent_lsn: string | null;
  replay_lsn: string | null;
  /** Primary's current WAL position − replay_lsn. */
  replay_lag_bytes: string | null;
  write_lag_seconds: number | null;
  flush_lag_seconds: number | null;
  replay_lag_seconds: number | null;
}

/**
 * The HA cluster's check (`database.ha.patroniUrls` set): each node's role and state from
 * Patroni, and from pg_stat_replication on the primary each standby's replication state, lag in
 * bytes (not yet replayed) and seconds (write/flush/replay_lag), and whether synchronous commit is
 * in force (synchronous_standby_names set, a standby with sync_state `sync`, synchronous_commit
 * on). No writable primary fails; a standby down or lagging past `readiness.replicationLag`, or
 * commits not synchronous, warns.
 *
 * @example const check = replicationCheck({ patroniUrls, databaseUrl: config.database.url, rules });
 */
export function replicationCheck(input: ReplicationProbeInput): CheckDefinition {
  return {
    name: 'timescaledb.replication',
    component: 'timescaledb',
    run: (context) => probeReplication(input, context),
  };
}

async function fetchJson<T>(url: string, signal: AbortSignal, timeoutMs: number): Promise<T | undefined> {
  try {
    const response = await fetch(url, { signal: AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]) });
    return (await response.json()) as T;
  } catch {
    return undefined;
  }
}

async function probeReplication(
  input: ReplicationProbeInput,
  { signal }: ProbeContext,
): Promise<CheckOutcome> {
  const requestTimeoutMs = Math.max(200, Math.floor(input.rules.probeTimeoutMs / 2));
  const base = (url: string): string => url.replace(/\/+$/, '');
  // Every node's own view answers whether its Patroni is reachable; /cluster gives the roles.
  const views = await Promise.all(
    input.patroniUrls.map(async (url) => ({
      url,
      cluster: await fetchJson<{ members?: ClusterMember[] }>(
        `${base(url)}/cluster`,
        signal,
        requestTimeoutMs,
      ),
    })),
  );
  const members = views.find((view) => view.cluster?.members)?.cluster?.members;
  const unreachable = views.filter((view) => !view.cluster).map((view) => view.url);
  if (!members) {
    return combine(
      [
        {
          status: 'fail',
          reason: 'no_writable_primary',
          message: `No Patroni REST API of the HA cluster answers (${input.patroniUrls.join(', ')}): no writable primary can be confirmed; check that Patroni runs (./backbone stack status).`,
        },
      ],
      { patroniUrls: input.patroniUrls, unreachable },
    );
  }
  const leader = members.find((member) => member.role === 'leader');
  const nodes = members.map((member) => ({
    name: member.name,
    role: member.role,
    state: member.state,
    endpoint: `${member.host}:${member.port}`,
    timeline: member.timeline,
    patroniLagBytes: typeof member.lag === 'number' ? member.lag : undefined,
  }));
  const describeNodes = nodes.map((node) => `${node.name} ${node.role} ${node.state}`).join(', ') || 'none';
  if (!leader || leader.state !== 'running') {
    return combine(
      [
        {
          status: 'fail',
          reason: 'no_writable_primary',
          message: `The HA cluster has no running primary (members: ${describeNodes}); writes cannot be accepted until Patroni promotes a node.`,
        },
      ],
      { nodes, unreachable },
    );
  }

  const primaryUrl = new URL(input.databaseUrl);
  primaryUrl.hostname = leader.host;
  primaryUrl.port = String(leader.port);
  const client = new pg.Client({
    connectionString: primaryUrl.toString(),
    connectionTimeoutMillis: requestTimeoutMs,
  });
  client.on('error', () => undefined);
  const abort = (): void => {
    void client.end().catch(() => undefined);
  };
  signal.addEventListener('abort', abort, { once: true });
  let primary: { recovery: boolean; standbyNames: string; synchronousCommit: string; rows: ReplicationRow[] };
  try {
    await client.connect();
    const settings = await client.query<{
      recovery: boolean;
      standby_names: string;
      synchronous_commit: string;
    }>(
      `SELECT pg_is_in_recovery() AS recovery,
              current_setting('synchronous_standby_names') AS standby_names,
              current_setting('synchronous_commit') AS synchronous_commit`,
    );
    const replication = await client.query<ReplicationRow>(
      `SELECT application_name, state, sync_state, sent_lsn::text, replay_lsn::text,
              pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::text AS replay_lag_bytes,
              extract(epoch FROM write_lag)::float8 AS write_lag_seconds,
              extract(epoch FROM flush_lag)::float8 AS flush_lag_seconds,
              extract(epoch FROM replay_lag)::float8 AS replay_lag_seconds
         FROM pg_stat_replication`,
    );
    const row = settings.rows[0];
    primary = {
      recovery: row?.recovery ?? true,
      standbyNames: row?.standby_names ?? '',
      synchronousCommit: row?.synchronous_commit ?? '',
      rows: replication.rows,
    };
  } catch (error) {
    return combine(
      [
        {
          status: 'fail',
          reason: 'no_writable_primary',
          message: `Patroni names ${leader.name} (${leader.host}:${leader.port}) the primary, but it does not answer SQL: ${redactText(error instanceof Error ? error.message : String(error))}.`,
        },
      ],
      { nodes, unreachable },
    );
  } finally {
    signal.removeEventListener('abort', abort);
    await client.end().catch(() => undefined);
  }
  if (primary.recovery) {
    return combine(
      [
        {
          status: 'fail',
          reason: 'no_writable_primary',
          message: `${leader.name} (${leader.host}:${leader.port}) is Patroni's leader but still in recovery (read-only); writes cannot be accepted.`,
        },
      ],
      { nodes, unreachable },
    );
  }

  const findings: Finding[] = [];
  const { warnBytes, warnSeconds } = input.rules.replicationLag;
  const standbys = members
    .filter((member) => member.name !== leader.name)
    .map((member) => {
      const row = primary.rows.find((candidate) => candidate.application_name === member.name);
      const lagBytes = row?.replay_lag_bytes == null ? undefined : Number(row.replay_lag_bytes);
      return {
        name: member.name,
        role: member.role,
        state: member.state,
        endpoint: `${member.host}:${member.port}`,
        replication: row?.state,
        syncState: row?.sync_state,
        sentLsn: row?.sent_lsn ?? undefined,
        replayLsn: row?.replay_lsn ?? undefined,
        lagBytes,
        // NULL once the standby has caught up and nothing new was written: no lag.
        writeLagSeconds: row ? (row.write_lag_seconds ?? 0) : undefined,
        flushLagSeconds: row ? (row.flush_lag_seconds ?? 0) : undefined,
        replayLagSeconds: row ? (row.replay_lag_seconds ?? 0) : undefined,
      };
    });
  for (const standby of standbys) {
    if (standby.state !== 'running' || standby.replication !== 'streaming') {
      findings.push({
        status: 'warn',
        reason: 'standby_down',
        message: `Standby ${standby.name} (${standby.endpoint}) is ${standby.state}${standby.replication ? `, replication ${standby.replication}` : ', not replicating'}: the primary ${leader.name} has no copy there, and a failover to it would not be safe.`,
      });
      continue;
    }
    const lagBytes = standby.lagBytes ?? 0;
    const lagSeconds = standby.replayLagSeconds ?? 0;
    if (lagBytes >= warnBytes || lagSeconds >= warnSeconds) {
      findings.push({
        status: 'warn',
        reason: 'replication_lagging',
        message: `Standby ${standby.name} is ${formatCount(lagBytes)} bytes and ${formatAge(lagSeconds)} behind the primary ${leader.name} (warn at ${formatCount(warnBytes)} bytes or ${warnSeconds}s).`,
      });
    }
  }
  // A configured node whose Patroni is gone is missing from /cluster altogether.
  if (standbys.length === 0 || unreachable.length > 0) {
    findings.push({
      status: 'warn',
      reason: 'standby_down',
      message:
        standbys.length === 0
          ? `The HA cluster has no standby (members: ${describeNodes}); only ${leader.name} holds the data.`
          : `Patroni does not answer at ${unreachable.join(', ')}: that node is down.`,
    });
  }
  const syncStandbys = standbys
    .filter((standby) => standby.syncState === 'sync')
    .map((standby) => standby.name);
  const synchronous =
    primary.standbyNames.trim() !== '' &&
    syncStandbys.length > 0 &&
    // `on` waits for the standby's flush, `remote_apply` for its replay; weaker levels do not wait for durability there.
    ['on', 'remote_apply'].includes(primary.synchronousCommit);
  if (!synchronous) {
    findings.push({
      status: 'warn',
      reason: 'synchronous_commit_off',
      message: `Commits on ${leader.name} are not synchronously replicated (synchronous_standby_names '${primary.standbyNames}', synchronous standbys: ${syncStandbys.join(', ') || 'none'}, synchronous_commit ${primary.synchronousCommit}): a failover now could lose acknowledged commits.`,
    });
  }
  return combine(findings, {
    primary: { name: leader.name, endpoint: `${leader.host}:${leader.port}`, timeline: leader.timeline },
    nodes: [
      {
        name: leader.name,
        role: leader.role,
        state: leader.state,
        endpoint: `${leader.host}:${leader.port}`,
      },
      ...standbys,
    ],
    synchronous,
    synchronousStandbyNames: primary.standbyNames,
    synchronousCommit: primary.synchronousCommit,
    unreachable,
  });
}
