import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ensureHaCluster,
  freeHaPorts,
  haEndpoints,
  patroniCluster,
  postmasterPid,
  setPatroniPaused,
  stackOptions,
  stopHaCluster,
  stopHaNode,
  type PatroniClusterMember,
  type StackOptions,
} from '@backbone/stack';
import { migrate } from '@backbone/db';
import { waitFor } from '@backbone/testing';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CheckResult } from '../check.ts';
import { runCheck } from '../run-check.ts';
import { testRules } from '../test-support/config.ts';
import { replicationCheck } from './replication.ts';

// A private HA cluster (3 etcd, Patroni primary + synchronous standby, HAProxy) on free ports,
// brought up with the stack's own functions and stopped in afterAll whatever happens. The tests
// run in order and break the cluster step by step: replay paused, standby down, primary down.
let options: StackOptions;
let cacheDir: string;
let leader: PatroniClusterMember;
let standby: PatroniClusterMember;

beforeAll(async () => {
  cacheDir = await mkdtemp(join(tmpdir(), 'backbone-readiness-ha-'));
  // mkdtemp makes it 0700: the postgres user must reach the node directories below it.
  await chmod(cacheDir, 0o755);
  options = stackOptions({
    cacheDir,
    ha: { ...(await freeHaPorts()), enabled: true, startTimeoutMs: 60_000 },
  });
  await ensureHaCluster(options.ha, cacheDir, () => undefined);
  const members = (await patroniCluster(options.ha)) ?? [];
  const foundLeader = members.find((member) => member.role === 'leader');
  const foundStandby = members.find((member) => member.role === 'sync_standby');
  if (!foundLeader || !foundStandby) throw new Error(`unexpected members ${JSON.stringify(members)}`);
  leader = foundLeader;
  standby = foundStandby;
}, 120_000);

afterAll(async () => {
  // options is set before the cluster starts, so whatever beforeAll started is stopped here.
  await (async () => stopHaCluster(options.ha, cacheDir))().catch(() => undefined);
  await rm(cacheDir, { recursive: true, force: true }).catch(() => undefined);
}, 120_000);

const rules = testRules({}, { probeTimeoutMs: 5_000 });

function check(lag = rules.replicationLag): Promise<CheckResult> {
  const endpoints = haEndpoints(options.ha);
  return runCheck(
    replicationCheck({
      patroniUrls: endpoints.patroniUrls,
      databaseUrl: endpoints.databaseUrl,
      rules: { ...rules, replicationLag: lag },
    }),
    rules.probeTimeoutMs,
  );
}

async function sql(url: string, text: string): Promise<void> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3_000 });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

interface StandbyEvidence {
  name: string;
  syncState?: string;
  replication?: string;
  lagBytes?: number;
  writeLagSeconds?: number;
  flushLagSeconds?: number;
  replayLagSeconds?: number;
}

describe('timescaledb.replication on a real Patroni cluster', () => {
  it('ok: names the primary and the streaming synchronous standby, with lag in bytes and seconds', async () => {
    const result = await check();
    expect(result).toMatchObject({ status: 'ok', component: 'timescaledb', name: 'timescaledb.replication' });
    expect(result.evidence).toMatchObject({
      primary: { name: leader.name, endpoint: `${leader.host}:${leader.port}` },
      synchronous: true,
      synchronousCommit: 'on',
      synchronousStandbyNames: standby.name,
    });
    const nodes = result.evidence.nodes as StandbyEvidence[];
    const standbyEvidence = nodes.find((node) => node.name === standby.name);
    expect(standbyEvidence).toMatchObject({ syncState: 'sync', replication: 'streaming' });
    for (const field of ['lagBytes', 'writeLagSeconds', 'flushLagSeconds', 'replayLagSeconds'] as const) {
      expect(typeof standbyEvidence?.[field]).toBe('number');
    }
  });

  it('migrate through HAProxy builds the TimescaleDB schema on the primary, replicated to the standby', async () => {
    const endpoints = haEndpoints(options.ha);
    const client = new pg.Client({ connectionString: endpoints.databaseUrl });
    await client.connect();
    try {
      const result = await migrate(client);
      expect(result.mode).toBe('timescaledb');
      expect(result.applied.length).toBeGreaterThan(0);
    } finally {
      await client.end();
    }
    const standbyClient = new pg.Client({ connectionString: endpoints.nodeUrls[standby.name] });
    await standbyClient.connect();
    try {
      const hypertables = await waitFor(
        async () => {
          const rows = await standbyClient.query<{ name: string }>(
            "select hypertable_schema || '.' || hypertable_name as name from timescaledb_information.hypertables order by 1",
          );
          return rows.rows.length > 0 ? rows.rows.map((row) => row.name) : undefined;
        },
        { timeoutMs: 10_000, description: 'the hypertables replayed on the standby' },
      );
      expect(hypertables).toEqual(['market_data.bars', 'market_data.macro_events', 'market_data.ticks']);
    } finally {
      await standbyClient.end();
    }
  });

  it('warn: a standby whose replay is held back lags past the byte threshold, named with the numbers', async () => {
    const endpoints = haEndpoints(options.ha);
    const standbyUrl = endpoints.nodeUrls[standby.name] ?? '';
    // The standby replays `up`'s CREATE DATABASE a moment after the primary commits it.
    await waitFor(() => sql(standbyUrl, 'select pg_wal_replay_pause()').then(() => true), {
      timeoutMs: 10_000,
      description: `database ${options.ha.database} replayed on ${standby.name}`,
    });
    try {
      // Synchronous commit waits for the standby's flush, not its replay: writes go on.
      await sql(endpoints.databaseUrl, 'create table lag_probe as select generate_series(1, 10000) as n');
      const result = await waitFor(
        async () => {
          const outcome = await check({ warnBytes: 64 * 1024, warnSeconds: 3_600 });
          return outcome.status === 'warn' ? outcome : undefined;
        },
        { timeoutMs: 15_000, intervalMs: 200, description: 'the replication check to warn about lag' },
      );
      expect(result.reason).toBe('replication_lagging');
      expect(result.message).toMatch(
        new RegExp(`Standby ${standby.name} is [\\d,]+ bytes and \\d+s behind the primary ${leader.name}`),
      );
      const lagged = (result.evidence.nodes as StandbyEvidence[]).find((node) => node.name === standby.name);
      expect(lagged?.lagBytes).toBeGreaterThanOrEqual(64 * 1024);
    } finally {
      await sql(standbyUrl, 'select pg_wal_replay_resume()');
    }
    await waitFor(async () => (await check()).status === 'ok', {
      timeoutMs: 15_000,
      intervalMs: 200,
      description: 'the check to be ok again once replay resumed',
    });
  });

  it('warn: the standby down, and commits no longer synchronous; the primary still takes writes', async () => {
    await stopHaNode(options.ha, cacheDir, standby.name);
    const result = await waitFor(
      async () => {
        const outcome = await check();
        // Patroni drops synchronous_standby_names on its next loop (synchronous_mode_strict off).
        return outcome.status === 'warn' && outcome.evidence.synchronous === false ? outcome : undefined;
      },
      { timeoutMs: 20_000, intervalMs: 200, description: 'the replication check to warn: standby down' },
    );
    expect(result.reason).toBe('standby_down');
    expect(result.message).toContain(
      `Patroni does not answer at ${haEndpoints(options.ha).patroniUrls[options.ha.nodes.findIndex((node) => node.name === standby.name)]}`,
    );
    expect(result.message).toContain(`Commits on ${leader.name} are not synchronously replicated`);
    expect(result.evidence.primary).toMatchObject({ name: leader.name });
    // Not strict: the primary goes on accepting (unreplicated) writes rather than blocking.
    await sql(haEndpoints(options.ha).databaseUrl, 'create table written_alone (n int)');
  });

  it('fail: the primary stopped (Patroni paused, so it neither restarts nor fails over), naming it', async () => {
    await setPatroniPaused(options.ha, true);
    const node = options.ha.nodes.find((candidate) => candidate.name === leader.name);
    const pid = node && (await postmasterPid(options.ha, node));
    if (!pid) throw new Error('no postmaster pid for the primary');
    process.kill(pid, 'SIGINT'); // fast shutdown
    const result = await waitFor(
      async () => {
        const outcome = await check();
        return outcome.status === 'fail' ? outcome : undefined;
      },
      { timeoutMs: 20_000, intervalMs: 200, description: 'the replication check to fail: primary stopped' },
    );
    expect(result.reason).toBe('no_writable_primary');
    expect(result.message).toContain(leader.name);
    expect(result.evidence.nodes).toEqual(
      expect.arrayContaining([expect.objectContaining({ name: leader.name, role: 'leader' })]),
    );
  });

  it('fail: no Patroni answers at all, naming the URLs', async () => {
    await stopHaNode(options.ha, cacheDir, leader.name);
    const result = await check();
    expect(result.status).toBe('fail');
    expect(result.reason).toBe('no_writable_primary');
    for (const url of haEndpoints(options.ha).patroniUrls) expect(result.message).toContain(url);
  });
});
