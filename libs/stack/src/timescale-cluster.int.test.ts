import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { MissingToolError, ServiceStartError } from './errors.ts';
import { freePort } from './free-port.ts';
import { stackOptions, type StackOptions } from './options.ts';
import { findPostgresServer, postgresOwnedDir, stopCluster } from './postgres-cluster.ts';
import { probePostgres } from './postgres.ts';
import { pollUntil } from './process.ts';
import { stackDown, stackStatus, stackUp } from './stack.ts';
import { readState } from './state.ts';
import { stopTimescaleCluster, TIMESCALEDB_BACKGROUND_WORKERS } from './timescale-cluster.ts';
import { ensureTimescaledbInstalled, findTimescaledb } from './timescaledb-install.ts';

// A private TimescaleDB cluster of the stack's own (initdb under a temporary cache directory, a
// free port), started and stopped here; the shared servers on 5432/5433 are only read. Every
// cluster a test starts is stopped in afterAll, also when the test failed half-way.
const tempDirs: string[] = [];
const startedClusters: StackOptions[] = [];
/** Data directories of clusters started by a child process, stopped here whatever the child did. */
const childClusters: string[] = [];
/**
 * A source tarball shaped like the vendored release (a `timescaledb-2.28.3/` tree and a patch
 * beside it), small enough to extract in milliseconds: the build steps up to cmake are the
 * product's, the release's contents do not matter to them, and the test does not depend on
 * where the repository's ../shared/vendor is.
 */
async function fixtureSource(): Promise<{ tarball: string; patch: string }> {
  const dir = await tempCacheDir();
  const tree = join(dir, 'timescaledb-2.28.3', 'tsl', 'src', 'bgw_policy');
  await mkdir(tree, { recursive: true });
  await writeFile(join(tree, 'job.c'), 'CommitTransactionCommand();\nPortalDrop(portal, false);\n');
  await writeFile(join(dir, 'timescaledb-2.28.3', 'version.config'), 'version = 2.28.3\n');
  const tarball = join(dir, 'timescaledb-2.28.3.tar.gz');
  await promisify(execFile)('tar', ['czf', tarball, '-C', dir, 'timescaledb-2.28.3']);
  const patch = 'timescaledb-2.28.3-portal-drop.patch';
  await writeFile(
    join(dir, patch),
    [
      '--- a/tsl/src/bgw_policy/job.c',
      '+++ b/tsl/src/bgw_policy/job.c',
      '@@ -1,2 +1,3 @@',
      ' CommitTransactionCommand();',
      '+portal->status = PORTAL_DONE;',
      ' PortalDrop(portal, false);',
      '',
    ].join('\n'),
  );
  return { tarball, patch };
}

/** A cache directory the postgres user can reach (mkdtemp makes it 700). */
async function tempCacheDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `backbone-tsdb-${randomBytes(3).toString('hex')}-`));
  await chmod(dir, 0o755);
  tempDirs.push(dir);
  return dir;
}

afterAll(async () => {
  for (const options of startedClusters) {
    const started = (await readState(options.cacheDir)).timescaledb;
    if (started) await stopTimescaleCluster(started);
  }
  const server = await findPostgresServer();
  for (const dataDir of childClusters) if (server) await stopCluster('timescaledb', server.binDir, dataDir);
  await Promise.all(tempDirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

async function query<T extends pg.QueryResultRow>(
  client: pg.Client,
  sql: string,
  values: unknown[] = [],
): Promise<T[]> {
  return (await client.query<T>(sql, values)).rows;
}

describe("the stack's own TimescaleDB cluster", () => {
  it(
    'up runs it (initdb as postgres, timescaledb preloaded, telemetry off, workers sized), its scheduler runs a job, down stops it, a second up restarts it',
    { timeout: 120_000 },
    async () => {
      const logged: string[] = [];
      // The other three services are the shared ones, reused (and so never stopped) here.
      const options = stackOptions({
        cacheDir: await tempCacheDir(),
        postgres: { port: await freePort() },
        log: (message) => logged.push(message),
      });
      startedClusters.push(options);
      const endpoint = `127.0.0.1:${options.postgres.port}`;

      const statuses = await stackUp(options);
      expect(statuses.map((status) => [status.service, status.state, status.managedBy])).toEqual([
        ['timescaledb', 'up', 'backbone'],
        ['postgres', 'up', 'external'],
        ['redis', 'up', 'external'],
        ['kafka', 'up', 'external'],
      ]);
      const timescaledb = statuses[0];
      expect(timescaledb?.version).toMatch(/^PostgreSQL 15\.\d+ .*; TimescaleDB 2\.28\.3$/);
      expect(timescaledb?.warnings).toEqual([]);
      const dataDir = join(options.cacheDir, 'timescaledb', String(options.postgres.port), 'data');
      expect(logged).toContain(
        `creating the stack's TimescaleDB cluster (PostgreSQL 15, initdb) in ${dataDir}`,
      );
      expect(await readState(options.cacheDir)).toMatchObject({
        timescaledb: { kind: 'pg_ctl', dataDir, port: options.postgres.port },
      });
      // Owned by the postgres user, as PostgreSQL requires.
      const postgresUid = Number((await promisify(execFile)('id', ['-u', 'postgres'])).stdout.trim());
      expect((await stat(dataDir)).uid).toBe(postgresUid);

      const client = new pg.Client({ ...options.postgres });
      await client.connect();
      try {
        const settings = Object.fromEntries(
          (
            await query<{ name: string; setting: string }>(
              client,
              `select name, setting from pg_settings where name = any($1)`,
              [
                [
                  'shared_preload_libraries',
                  'timescaledb.max_background_workers',
                  'max_worker_processes',
                  'max_parallel_workers',
                  'max_connections',
                  'listen_addresses',
                ],
              ],
            )
          ).map(({ name, setting }) => [name, setting]),
        );
        const cpus = availableParallelism();
        expect(settings).toEqual({
          shared_preload_libraries: 'timescaledb',
          'timescaledb.max_background_workers': String(TIMESCALEDB_BACKGROUND_WORKERS),
          max_worker_processes: String(TIMESCALEDB_BACKGROUND_WORKERS + cpus + 3),
          max_parallel_workers: String(cpus),
          max_connections: '300',
          listen_addresses: '127.0.0.1',
        });

        // CREATE EXTENSION works (it ends the session with a FATAL on a server that does not preload it),
        // and the background scheduler, not this session, runs a job.
        await client.query('create extension if not exists timescaledb');
        // Defined by the versioned library, which a session loads once the extension exists.
        expect(await query(client, 'show timescaledb.telemetry_level')).toEqual([
          { 'timescaledb.telemetry_level': 'off' },
        ]);
        await client.query(
          `create or replace procedure public.stack_test_tick(job_id int, config jsonb)
           language plpgsql as $$ begin perform 1; end $$`,
        );
        const [job] = await query<{ id: number }>(
          client,
          `select add_job('public.stack_test_tick', '1 hour', initial_start => now()) as id`,
        );
        const ran = await pollUntil(
          async () => {
            const [stats] = await query<{ last_run_status: string | null; total_successes: string }>(
              client,
              'select last_run_status, total_successes from timescaledb_information.job_stats where job_id = $1',
              [job?.id],
            );
            return stats?.last_run_status === 'Success' && Number(stats.total_successes) >= 1;
          },
          60_000,
          200,
        );
        expect(ran).toBe(true);
      } finally {
        await client.end();
      }

      // A second up finds it answering: nothing started, the record kept.
      const recorded = (await readState(options.cacheDir)).timescaledb;
      await stackUp(options);
      expect((await readState(options.cacheDir)).timescaledb).toEqual(recorded);

      expect(await stackDown(options)).toEqual(['timescaledb']);
      expect(await probePostgres(options.postgres)).toMatchObject({ state: 'down' });
      const afterDown = (await stackStatus(options)).find((status) => status.service === 'timescaledb');
      expect(afterDown).toMatchObject({ state: 'down', managedBy: 'external' });

      // The data stays: the next up starts the same cluster without initdb, the job still there.
      logged.length = 0;
      await stackUp(options);
      expect(logged.some((message) => message.startsWith("creating the stack's TimescaleDB cluster"))).toBe(
        false,
      );
      const again = new pg.Client({ ...options.postgres });
      await again.connect();
      try {
        expect(
          await query(again, 'select 1 from timescaledb_information.jobs where proc_name = $1', [
            'stack_test_tick',
          ]),
        ).toHaveLength(1);
      } finally {
        await again.end();
      }
      expect(await stackDown(options)).toEqual(['timescaledb']);
      expect(logged).toContain(
        `starting the stack's TimescaleDB cluster on ${endpoint} (log: ${join(dataDir, '..', 'postgresql.log')})`,
      );
    },
  );

  it('warns, naming the fix, when the server it reuses does not preload timescaledb', async () => {
    // The machine's plain PostgreSQL on 5432: the extension is installed for its binaries, not preloaded.
    const options = stackOptions({ cacheDir: await tempCacheDir(), postgres: { port: 5432 } });
    const timescaledb = (await stackStatus(options)).find((status) => status.service === 'timescaledb');
    expect(timescaledb).toMatchObject({ state: 'up', managedBy: 'external' });
    expect(timescaledb?.warnings).toEqual([
      expect.stringMatching(
        /^this server does not preload timescaledb \(shared_preload_libraries = ''\): CREATE EXTENSION timescaledb ends the session.*Fix: add timescaledb to shared_preload_libraries .*or stop that server so `\.\/backbone stack up` starts the stack's own TimescaleDB cluster on port 5432$/,
      ),
    ]);
  });

  it(
    'keeps the cluster under the postgres home when the checkout is closed to other users (a checkout in /root)',
    { timeout: 60_000 },
    async () => {
      const closed = await mkdtemp(join(tmpdir(), 'backbone-tsdb-closed-')); // mode 700, like /root
      tempDirs.push(closed);
      const logged: string[] = [];
      const options = stackOptions({
        cacheDir: join(closed, 'checkout', '.cache'),
        postgres: { port: await freePort() },
        log: (message) => logged.push(message),
      });
      startedClusters.push(options);
      await stackUp(options);
      const started = (await readState(options.cacheDir)).timescaledb;
      expect(started?.dataDir).toMatch(
        new RegExp(`^/var/lib/postgresql/backbone-stack/[0-9a-f]{12}/${options.postgres.port}/data$`),
      );
      if (started) tempDirs.push(dirname(dirname(started.dataDir)));
      expect(logged).toContain(
        `${closed} (mode 700) is closed to the postgres user, so the cluster's files go to ${dirname(started?.dataDir ?? '')}`,
      );
      expect(await probePostgres(options.postgres)).toMatchObject({ state: 'up', databaseExists: true });
      // The same place on the next up: the data is found again, not made anew.
      expect(await stackDown(options)).toEqual(['timescaledb']);
      await stackUp(options);
      expect((await readState(options.cacheDir)).timescaledb?.dataDir).toBe(started?.dataDir);
      expect(logged.filter((line) => line.startsWith('creating the stack'))).toHaveLength(1);
    },
  );

  it('refuses, naming the folder and the fix, a cache directory the postgres user cannot reach', async () => {
    const locked = await mkdtemp(join(tmpdir(), 'backbone-tsdb-locked-')); // mode 700
    tempDirs.push(locked);
    const failure = postgresOwnedDir('timescaledb', join(locked, 'timescaledb', '5433'));
    await expect(failure).rejects.toBeInstanceOf(ServiceStartError);
    await expect(failure).rejects.toThrow(
      `the postgres user cannot write to ${join(locked, 'timescaledb', '5433')}: ${locked} (mode 700) is not traversable by others; chmod o+x ${locked}`,
    );
  });

  it(
    'runs initdb and pg_ctl directly when up itself runs as the postgres user',
    { timeout: 60_000 },
    async () => {
      const cacheDir = await tempCacheDir();
      await promisify(execFile)('chown', ['postgres', cacheDir]);
      const port = await freePort();
      childClusters.push(join(cacheDir, 'timescaledb', String(port), 'data'));
      const source = (file: string): string => JSON.stringify(join(import.meta.dirname, file));
      const script = `const { stackOptions } = await import(${source('options.ts')});
      const { ensureTimescaleCluster, stopTimescaleCluster } = await import(${source('timescale-cluster.ts')});
      const options = stackOptions({ cacheDir: ${JSON.stringify(cacheDir)}, postgres: { port: ${port} } });
      const started = await ensureTimescaleCluster(options);
      const { probePostgres } = await import(${source('postgres.ts')});
      const probe = await probePostgres(options.postgres);
      await stopTimescaleCluster(started);
      process.stdout.write(JSON.stringify({ user: (await import('node:os')).userInfo().username, started, probe }));`;
      const { stdout } = await promisify(execFile)('runuser', [
        '-u',
        'postgres',
        '--',
        process.execPath,
        '--input-type=module',
        '-e',
        script,
      ]);
      expect(JSON.parse(stdout)).toMatchObject({
        user: 'postgres',
        started: { kind: 'pg_ctl', port },
        probe: { state: 'up', databaseExists: true, timescaledb: { preloaded: true, available: '2.28.3' } },
      });
      expect(await probePostgres({ ...stackOptions().postgres, port })).toMatchObject({ state: 'down' });
    },
  );

  it('says to run as root when neither root nor the postgres user starts it', async () => {
    // The real check, from a process running as `nobody` (the repository is world-readable).
    const module = join(import.meta.dirname, 'postgres-cluster.ts');
    const script = `const { asPostgres } = await import(${JSON.stringify(module)});
      try { asPostgres('timescaledb', 'initdb', []); } catch (error) { process.stdout.write(error.message); }`;
    const { stdout } = await promisify(execFile)('runuser', [
      '-u',
      'nobody',
      '--',
      process.execPath,
      '--input-type=module',
      '-e',
      script,
    ]);
    expect(stdout).toBe(
      "initdb must run as the postgres user (PostgreSQL refuses root, and the cluster's files belong to postgres), " +
        'but this process runs as nobody: run `sudo ./backbone stack up` (or run it as postgres), or start the server yourself and point the database URL at it',
    );
  });
});

describe('installing the TimescaleDB extension', () => {
  const pgConfig = async (): Promise<string> => {
    const server = await findPostgresServer();
    if (!server) throw new Error('no PostgreSQL server binaries on this machine');
    return join(server.binDir, 'pg_config');
  };

  it("finds the extension installed for the server's binaries, and not in an empty staging directory", async () => {
    expect(await findTimescaledb(await pgConfig())).toMatchObject({
      installed: true,
      version: '2.28.3',
      controlFile: '/usr/share/postgresql/15/extension/timescaledb.control',
      loaderLibrary: '/usr/lib/postgresql/15/lib/timescaledb.so',
    });
    const destDir = await tempCacheDir();
    expect(await findTimescaledb(await pgConfig(), destDir)).toEqual({
      installed: false,
      version: undefined,
      controlFile: join(destDir, 'usr/share/postgresql/15/extension/timescaledb.control'),
      loaderLibrary: join(destDir, 'usr/lib/postgresql/15/lib/timescaledb.so'),
    });
    // Installed already: nothing to do.
    expect(
      await ensureTimescaledbInstalled({
        pgConfig: await pgConfig(),
        source: '/nonexistent.tar.gz',
        cacheDir: destDir,
        cmake: 'cmake',
        log: () => undefined,
      }),
    ).toEqual({ how: 'already-installed', version: '2.28.3' });
  });

  it('names the missing tarball and how to pass one', async () => {
    const dir = await tempCacheDir();
    const failure = ensureTimescaledbInstalled({
      pgConfig: await pgConfig(),
      source: join(dir, 'timescaledb-2.28.3.tar.gz'),
      cacheDir: dir,
      cmake: 'cmake',
      destDir: join(dir, 'stage'),
      log: () => undefined,
    });
    await expect(failure).rejects.toBeInstanceOf(ServiceStartError);
    await expect(failure).rejects.toThrow(
      `the source tarball to build it from is missing: ${join(dir, 'timescaledb-2.28.3.tar.gz')}. Pass one with \`./backbone stack up --timescaledb-source <tarball>\``,
    );
  });

  it('names a missing cmake with the apt-get line', async () => {
    const dir = await tempCacheDir();
    const failure = ensureTimescaledbInstalled({
      pgConfig: await pgConfig(),
      source: (await fixtureSource()).tarball,
      cacheDir: dir,
      cmake: '/nonexistent/cmake',
      destDir: join(dir, 'stage'),
      installMissingPackages: false,
      log: () => undefined,
    });
    await expect(failure).rejects.toBeInstanceOf(MissingToolError);
    await expect(failure).rejects.toThrow(
      'cmake (/nonexistent/cmake) is needed for timescaledb but was not found; install it with: sudo apt-get install -y cmake',
    );
  });

  it('reports a failing build step with its output and the log file, and resumes after the extraction', async () => {
    const dir = await tempCacheDir();
    const source = await fixtureSource();
    const logged: string[] = [];
    const options = {
      pgConfig: await pgConfig(),
      source: source.tarball,
      cacheDir: dir,
      // A cmake that fails: `false` exits 1 whatever it is given.
      cmake: 'false',
      destDir: join(dir, 'stage'),
      installMissingPackages: false,
      log: (message: string) => logged.push(message),
    };
    const buildRoot = join(dir, 'timescaledb', 'build', 'timescaledb-2.28.3');
    const failure = ensureTimescaledbInstalled(options);
    await expect(failure).rejects.toBeInstanceOf(ServiceStartError);
    await expect(failure).rejects.toThrow(
      `building TimescaleDB failed while configuring (cmake): false -S ${buildRoot}/src -B ${buildRoot}/build`,
    );
    await expect(failure).rejects.toThrow(`The whole log: ${buildRoot}/build.log`);
    expect(logged).toEqual([
      `building TimescaleDB 2.28.3 from ${source.tarball} with ${source.patch}, about 3 minutes on 2 cores (once; log: ${buildRoot}/build.log)`,
    ]);
    // The patch was applied, and the extracted tree is kept for the next attempt.
    expect(await readFile(join(buildRoot, 'src/tsl/src/bgw_policy/job.c'), 'utf8')).toContain(
      'portal->status = PORTAL_DONE;',
    );
    await expect(ensureTimescaledbInstalled(options)).rejects.toThrow('while configuring (cmake)');
    const log = await readFile(join(buildRoot, 'build.log'), 'utf8');
    expect(log.match(/^\$ tar /gm)).toHaveLength(1);
    expect(log.match(/^\$ false /gm)).toHaveLength(2);
  });
});
