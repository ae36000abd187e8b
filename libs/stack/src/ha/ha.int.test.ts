import { randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MissingToolError, PortInUseError, ServiceStartError } from '../errors.ts';
import { stackOptions, type StackOptions } from '../options.ts';
import { isAlive, isPortOpen, pollUntil } from '../process.ts';
import { stackDown, stackStatus, stackUp } from '../stack.ts';
import { readState } from '../state.ts';
import { killPrimaryPostmaster, switchover, type FailoverTimes } from './failover.ts';
import { ensureHaCluster } from './ha-cluster.ts';
import { freeHaPorts, haEndpoints, type HaOptionsInput } from './ha-options.ts';
import { patroniCluster, postmasterPid } from './patroni.ts';

// One private HA cluster (3 etcd, 2 Patroni nodes, HAProxy) on free ports under a temporary
// cache folder, shared by this file's tests and always stopped in afterAll. PostgreSQL, Redis and
// Kafka are the shared ones: `stackUp` finds them answering and reuses them, so it starts only
// the HA cluster.
const tempDirs: string[] = [];

async function tempCacheDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `backbone-ha-${randomBytes(3).toString('hex')}-`));
  // mkdtemp makes it 0700: the postgres user must reach the node directories below it.
  await chmod(dir, 0o755);
  tempDirs.push(dir);
  return dir;
}

async function privateHaInput(): Promise<HaOptionsInput> {
  return { ...(await freeHaPorts()), enabled: true, startTimeoutMs: 60_000 };
}

function query<T extends pg.QueryResultRow>(url: string, sql: string, values: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3_000 });
  client.on('error', () => undefined);
  return client
    .connect()
    .then(() => client.query<T>(sql, values))
    .then((result) => result.rows)
    .finally(() => client.end().catch(() => undefined));
}

let options: StackOptions;
let upMs = 0;

beforeAll(async () => {
  options = stackOptions({ cacheDir: await tempCacheDir(), ha: await privateHaInput() });
  const started = Date.now();
  await stackUp(options);
  upMs = Date.now() - started;
}, 120_000);

afterAll(async () => {
  // Stops whatever is still recorded, whether or not a test failed half-way.
  // options is set before stackUp starts anything, so this stops whatever it started.
  await (async () => stackDown(options))().catch(() => undefined);
  await Promise.all(tempDirs.map((dir) => rm(dir, { recursive: true, force: true })));
}, 120_000);

describe('stack up --ha', () => {
  it('runs a leader and a synchronous standby that streams, and status shows both from Patroni', async () => {
    process.stdout.write(`[ha] up --ha took ${upMs} ms\n`);
    const ha = (await stackStatus(options)).find((status) => status.service === 'ha');
    expect(ha).toMatchObject({ state: 'up', managedBy: 'backbone' });
    expect(ha?.version).toMatch(/^PostgreSQL 15/);
    expect(ha?.members?.map((member) => [member.role, member.state]).sort()).toEqual([
      ['leader', 'running'],
      ['sync_standby', 'running'],
    ]);
    const [replication] = await query<{ application_name: string; sync_state: string; state: string }>(
      haEndpoints(options.ha).databaseUrl,
      'select application_name, sync_state, state from pg_stat_replication',
    );
    const standby = ha?.members?.find((member) => member.role === 'sync_standby');
    expect(replication).toEqual({ application_name: standby?.name, sync_state: 'sync', state: 'streaming' });
  });

  it('writes through HAProxy land on the primary and are visible on the standby', async () => {
    const endpoints = haEndpoints(options.ha);
    const members = await patroniCluster(options.ha);
    const leader = members?.find((member) => member.role === 'leader');
    const standby = members?.find((member) => member.role === 'sync_standby');
    const [server] = await query<{ port: number; recovery: boolean }>(
      endpoints.databaseUrl,
      'select inet_server_port() as port, pg_is_in_recovery() as recovery',
    );
    expect(server).toEqual({ port: leader?.port, recovery: false });

    const marker = randomBytes(6).toString('hex');
    await query(endpoints.databaseUrl, 'create table if not exists ha_probe (marker text primary key)');
    await query(endpoints.databaseUrl, 'insert into ha_probe values ($1)', [marker]);
    const standbyUrl = endpoints.nodeUrls[standby?.name ?? ''] ?? '';
    // synchronous_commit=on waits for the standby's flush, not its replay: wait for the replay.
    const replayed = await pollUntil(
      async () =>
        (await query(standbyUrl, 'select 1 from ha_probe where marker = $1', [marker])).length === 1,
      10_000,
      50,
    );
    expect(replayed).toBe(true);
    const [recovery] = await query<{ recovery: boolean }>(
      standbyUrl,
      'select pg_is_in_recovery() as recovery',
    );
    expect(recovery?.recovery).toBe(true);
  });

  it('runs TimescaleDB preloaded with telemetry off on both nodes, and the database exists', async () => {
    for (const url of Object.values(haEndpoints(options.ha).nodeUrls)) {
      const [settings] = await query<{ preload: string; telemetry: string; extension: string | null }>(
        url,
        `select current_setting('shared_preload_libraries') as preload,
                current_setting('timescaledb.telemetry_level') as telemetry,
                (select default_version from pg_available_extensions where name = 'timescaledb') as extension`,
      );
      expect(settings).toEqual({ preload: 'timescaledb', telemetry: 'off', extension: '2.28.3' });
    }
  });

  it('is idempotent: a second up starts nothing and keeps the same processes', async () => {
    const before = await readState(options.cacheDir);
    const logged: string[] = [];
    await stackUp({ ...options, log: (message) => logged.push(message) });
    expect((await readState(options.cacheDir)).ha).toEqual(before.ha);
    expect(logged.filter((line) => line.startsWith('starting'))).toEqual([]);
  });

  it('names the missing program and how to install it, and starts nothing', async () => {
    const missing = stackOptions({
      cacheDir: await tempCacheDir(),
      ha: { ...(await privateHaInput()), commands: { patroni: '/nonexistent/patroni' } },
    });
    const failure = ensureHaCluster(missing.ha, missing.cacheDir, () => undefined);
    await expect(failure).rejects.toBeInstanceOf(MissingToolError);
    await expect(failure).rejects.toThrow(
      'patroni (/nonexistent/patroni) is needed for ha but was not found; install it with: sudo apt-get install -y patroni',
    );
    expect((await readState(missing.cacheDir)).ha).toBeUndefined();
    expect(await isPortOpen('127.0.0.1', missing.ha.etcd[0].clientPort)).toBe(false);
  });

  it('refuses a port another program holds, naming the port and the process, and starts nothing', async () => {
    const squatter = createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => squatter.listen(0, '127.0.0.1', resolve));
    try {
      const address = squatter.address();
      const port = address !== null && typeof address === 'object' ? address.port : 0;
      const taken = stackOptions({
        cacheDir: await tempCacheDir(),
        ha: { ...(await privateHaInput()), proxyPort: port },
      });
      const failure = ensureHaCluster(taken.ha, taken.cacheDir, () => undefined);
      await expect(failure).rejects.toBeInstanceOf(PortInUseError);
      await expect(failure).rejects.toThrow(`port ${port} is taken by pid ${process.pid}`);
      await expect(failure).rejects.toThrow('HAProxy (read-write) needs it');
      expect((await readState(taken.cacheDir)).ha).toBeUndefined();
      expect(await isPortOpen('127.0.0.1', taken.ha.etcd[0].clientPort)).toBe(false);
    } finally {
      await new Promise((resolve) => squatter.close(resolve));
    }
  });

  it('refuses PostgreSQL binaries that are not there, before starting anything', async () => {
    const missing = stackOptions({
      cacheDir: await tempCacheDir(),
      ha: { ...(await privateHaInput()), postgresBinDir: '/nonexistent/postgresql/bin' },
    });
    await expect(ensureHaCluster(missing.ha, missing.cacheDir, () => undefined)).rejects.toThrow(
      'no PostgreSQL server in /nonexistent/postgresql/bin (no postgres program there)',
    );
    expect((await readState(missing.cacheDir)).ha).toBeUndefined();
  });

  it('refuses data made for other ports, naming the folder, before starting anything', async () => {
    const moved = stackOptions({ cacheDir: await tempCacheDir(), ha: await privateHaInput() });
    await mkdir(moved.ha.dir, { recursive: true });
    // The layout a cluster with the etcd members in another order (other peer addresses) left.
    await writeFile(
      join(moved.ha.dir, 'layout.json'),
      JSON.stringify({
        host: moved.ha.host,
        scope: moved.ha.scope,
        etcd: [...moved.ha.etcd].reverse(),
        nodes: moved.ha.nodes.map((node) => node.name),
      }),
    );
    await expect(ensureHaCluster(moved.ha, moved.cacheDir, () => undefined)).rejects.toThrow(
      `the HA cluster in ${moved.ha.dir} was created with other etcd ports or node names`,
    );
    expect((await readState(moved.cacheDir)).ha).toBeUndefined();
    expect(await isPortOpen('127.0.0.1', moved.ha.etcd[0].clientPort)).toBe(false);
  });

  it(
    "a cluster that cannot come up is stopped again: the error names the wait and the broken node's log lines",
    { timeout: 60_000 },
    async () => {
      const broken = stackOptions({
        cacheDir: await tempCacheDir(),
        ha: { ...(await privateHaInput()), startTimeoutMs: 8_000 },
      });
      // A damaged data directory on pg1: pg2 becomes leader, pg1 can never become its standby.
      const pg1Data = join(broken.ha.dir, 'pg1', 'data');
      await mkdir(pg1Data, { recursive: true });
      await writeFile(join(pg1Data, 'PG_VERSION'), 'damaged\n');
      const started: number[] = [];
      const failure = ensureHaCluster(broken.ha, broken.cacheDir, () => undefined).catch(
        (error: unknown) => error,
      );
      // The pids recorded while it runs, to check afterwards that each one is gone.
      await pollUntil(
        async () => {
          const recorded = (await readState(broken.cacheDir)).ha;
          const processes = [...(recorded?.etcd ?? []), ...(recorded?.patroni ?? [])];
          if (recorded?.haproxy) processes.push(recorded.haproxy);
          for (const process of processes) if (!started.includes(process.pid)) started.push(process.pid);
          return started.length === 6;
        },
        30_000,
        50,
      );
      const error = await failure;
      expect(error).toBeInstanceOf(ServiceStartError);
      expect(String(error)).toContain(
        'Patroni did not report a leader and a streaming synchronous standby within 8000 ms (last seen: pg1 replica',
      );
      expect(String(error)).toContain(`could not open file "${pg1Data}/global/pg_control"`);
      expect(started).toHaveLength(6);
      expect(started.filter((pid) => isAlive(pid))).toEqual([]);
      expect((await readState(broken.cacheDir)).ha).toBeUndefined();
    },
  );

  async function writeRows(table: string, count: number): Promise<void> {
    const url = haEndpoints(options.ha).databaseUrl;
    await query(url, `create table if not exists ${table} (n int primary key)`);
    // One commit each: every one is acknowledged only after the standby flushed it.
    for (let n = 1; n <= count; n += 1) await query(url, `insert into ${table} values ($1)`, [n]);
  }

  function expectOrdered(times: FailoverTimes): void {
    process.stdout.write(`[ha] ${JSON.stringify(times)}\n`);
    expect(times.detectionMs).toBeLessThanOrEqual(times.failoverMs);
    expect(times.failoverMs).toBeLessThanOrEqual(times.proxyMs);
    expect(times.proxyMs).toBeLessThanOrEqual(times.rejoinMs ?? Number.NaN);
  }

  it(
    'SIGKILL of the primary postmaster: the synchronous standby is promoted, HAProxy follows, no commit is lost, the old primary rejoins',
    { timeout: 90_000 },
    async () => {
      await writeRows('before_kill', 50);
      const before = await patroniCluster(options.ha);
      const times = await killPrimaryPostmaster(options.ha);
      expectOrdered(times);
      expect(times.oldPrimary).toBe(before?.find((member) => member.role === 'leader')?.name);
      const after = await patroniCluster(options.ha);
      expect(after?.map((member) => [member.name, member.role, member.state]).sort()).toEqual(
        [
          [times.newPrimary, 'leader', 'running'],
          [times.oldPrimary, 'sync_standby', 'running'],
        ].sort(),
      );
      const [count] = await query<{ count: string }>(
        haEndpoints(options.ha).databaseUrl,
        'select count(*) from before_kill',
      );
      expect(count?.count).toBe('50');
    },
  );

  it(
    'switchover through Patroni REST: the roles swap, and the old primary rejoins as synchronous standby',
    { timeout: 90_000 },
    async () => {
      await writeRows('before_switchover', 20);
      const times = await switchover(options.ha);
      expectOrdered(times);
      const after = await patroniCluster(options.ha);
      expect(after?.find((member) => member.role === 'leader')?.name).toBe(times.newPrimary);
      expect(after?.find((member) => member.role === 'sync_standby')?.name).toBe(times.oldPrimary);
      const [count] = await query<{ count: string }>(
        haEndpoints(options.ha).databaseUrl,
        'select count(*) from before_switchover',
      );
      expect(count?.count).toBe('20');
    },
  );

  // Last: it takes the shared cluster down.
  it('down stops every process up --ha started, PostgreSQL included, and forgets them', async () => {
    const recorded = (await readState(options.cacheDir)).ha;
    const postmasters = await Promise.all(options.ha.nodes.map((node) => postmasterPid(options.ha, node)));
    const pids = [
      ...(recorded?.etcd ?? []),
      ...(recorded?.patroni ?? []),
      ...(recorded?.haproxy ? [recorded.haproxy] : []),
    ].map((process) => process.pid);
    expect(pids).toHaveLength(6);
    expect(postmasters.every((pid) => pid !== undefined && isAlive(pid))).toBe(true);

    expect(await stackDown(options)).toEqual(['ha']);
    expect([...pids, ...postmasters].filter((pid) => pid !== undefined && isAlive(pid))).toEqual([]);
    const ports = [
      ...options.ha.etcd.flatMap((member) => [member.clientPort, member.peerPort]),
      ...options.ha.nodes.flatMap((node) => [node.port, node.restPort]),
      options.ha.proxyPort,
    ];
    const open = await Promise.all(ports.map((port) => isPortOpen('127.0.0.1', port)));
    expect(ports.filter((_, index) => open[index])).toEqual([]);
    expect((await readState(options.cacheDir)).ha).toBeUndefined();
    expect((await stackStatus(options)).find((status) => status.service === 'ha')?.state).toBe('down');
  });
});
