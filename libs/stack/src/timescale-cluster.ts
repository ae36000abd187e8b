import { createHash } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { ServiceStartError } from './errors.ts';
import type { PostgresEndpoint, StackOptions } from './options.ts';
import {
  dataDirMajor,
  ensurePostgresServer,
  firstUntraversableParent,
  initCluster,
  isClusterRunning,
  ownClusterPaths,
  postgresOwnedDir,
  startCluster,
  stopCluster,
  writeClusterConf,
  writeHba,
  type PostgresSettingValue,
} from './postgres-cluster.ts';
import { ensureDatabase, probePostgres, reusePostgres, type PostgresProbe } from './postgres.ts';
import { pollUntil } from './process.ts';
import type { StackState } from './state.ts';
import { ensureTimescaledbInstalled } from './timescaledb-install.ts';

// The stack's own TimescaleDB server: a PostgreSQL cluster under <cacheDir>/timescaledb/<port>/,
// started when nothing answers at the configured endpoint (5433 by default).

/**
 * `timescaledb.max_background_workers`: every database with the extension holds one scheduler
 * worker for as long as it exists, and each running job takes one more. The test suite keeps
 * many migrated databases at once (each with 10 policy jobs), so the pool is sized for about a
 * dozen databases with a few jobs each running at the same time. When it is exhausted, jobs fail
 * with `failed to start job` (docs/stack.md).
 */
export const TIMESCALEDB_BACKGROUND_WORKERS = 64;

/** Connections the whole `npm test` may hold at once, with room for a running `npm start`. */
export const TIMESCALE_MAX_CONNECTIONS = 300;

/**
 * TimescaleDB's server parameters, for the stack's own cluster and for the HA nodes alike:
 * preloaded (without it `CREATE EXTENSION` ends the session with a FATAL error), telemetry off
 * (it cannot reach its server from here, and its job would fail), and workers sized as
 * `timescaledb-tune` does it: parallel workers = CPU cores, and `max_worker_processes =
 * timescaledb.max_background_workers + max_parallel_workers + 3` (Timescale's formula; the 3
 * cover TimescaleDB's launcher, PostgreSQL's logical-replication launcher and one spare), so
 * TimescaleDB's workers never compete with parallel queries for a slot. The default of 8 is too
 * small: policy jobs then fail with `failed to start job`.
 */
export function timescaledbParameters({
  backgroundWorkers = TIMESCALEDB_BACKGROUND_WORKERS,
  cpus = availableParallelism(),
}: { backgroundWorkers?: number; cpus?: number } = {}): Record<string, PostgresSettingValue> {
  const parallelWorkers = Math.max(1, cpus);
  return {
    shared_preload_libraries: 'timescaledb',
    'timescaledb.telemetry_level': 'off',
    'timescaledb.max_background_workers': backgroundWorkers,
    max_parallel_workers: parallelWorkers,
    max_parallel_workers_per_gather: Math.max(1, Math.floor(parallelWorkers / 2)),
    max_worker_processes: backgroundWorkers + parallelWorkers + 3,
  };
}

/** The stack's own cluster's settings: {@link timescaledbParameters} on its endpoint and socket. */
export function timescaleClusterSettings({
  endpoint,
  socketDir,
  cpus = availableParallelism(),
}: {
  endpoint: Pick<PostgresEndpoint, 'host' | 'port'>;
  socketDir: string;
  cpus?: number;
}): Record<string, PostgresSettingValue> {
  return {
    listen_addresses: endpoint.host,
    port: endpoint.port,
    // A unix socket path is limited to 107 bytes; a deep cache directory goes without one (TCP only).
    unix_socket_directories: join(socketDir, `.s.PGSQL.${endpoint.port}`).length <= 100 ? socketDir : '',
    ...timescaledbParameters({ cpus }),
    max_connections: TIMESCALE_MAX_CONNECTIONS,
    // A development server sharing the machine with the workers, brokers and tests: modest.
    shared_buffers: '256MB',
  };
}

/** The postgres user's home in Debian's packages, its own to write in. */
const DEBIAN_POSTGRES_HOME = '/var/lib/postgresql';

/**
 * Where the cluster keeps its data directory, log file and unix socket: `<cacheDir>/timescaledb/<port>`,
 * unless a parent of the cache directory is closed to other users (a checkout under /root, mode
 * 700). PostgreSQL runs as the postgres user and could not reach it there, so the files then go to
 * `<postgres home>/backbone-stack/<hash of the cache directory>/<port>`: one place per checkout,
 * the same on every `up`.
 */
export async function timescaleClusterDir(
  cacheDir: string,
  port: number,
  log: (message: string) => void = () => undefined,
): Promise<string> {
  const inCache = join(cacheDir, 'timescaledb', String(port));
  const blocker = await firstUntraversableParent(inCache);
  if (blocker === undefined) return inCache;
  const checkout = createHash('sha256').update(resolve(cacheDir)).digest('hex').slice(0, 12);
  const outside = join(DEBIAN_POSTGRES_HOME, 'backbone-stack', checkout, String(port));
  log(
    `${blocker.path} (mode ${blocker.mode}) is closed to the postgres user, so the cluster's files go to ${outside}`,
  );
  return outside;
}

/**
 * Makes the TimescaleDB server answer at `options.postgres` and its database exist. Reuses a
 * server that answers (whatever it is: `stackStatus` warns when it does not preload
 * timescaledb). Otherwise, on this machine: installs the extension when it is missing
 * (ensureTimescaledbInstalled), creates the cluster once (initdb as the postgres user), writes its
 * configuration and trust-on-loopback authentication, starts it with pg_ctl and creates the
 * database. Returns what it started, or undefined when it reused a running server.
 */
export async function ensureTimescaleCluster(options: StackOptions): Promise<StackState['timescaledb']> {
  const endpoint = options.postgres;
  if (await reusePostgres(endpoint, 'timescaledb')) return undefined;
  const { log } = options;
  const server = await ensurePostgresServer('timescaledb', log);
  await ensureTimescaledbInstalled({
    pgConfig: join(server.binDir, 'pg_config'),
    source: options.timescaledbSource,
    cacheDir: options.cacheDir,
    cmake: options.commands.cmake,
    log,
  });

  const paths = ownClusterPaths(await timescaleClusterDir(options.cacheDir, endpoint.port, log));
  await postgresOwnedDir('timescaledb', paths.dir);
  const major = await dataDirMajor(paths.dataDir);
  if (major === undefined) {
    log(`creating the stack's TimescaleDB cluster (PostgreSQL ${server.major}, initdb) in ${paths.dataDir}`);
    await initCluster('timescaledb', server, paths);
  } else if (major !== server.major) {
    throw new ServiceStartError(
      'timescaledb',
      `${paths.dataDir} was made by PostgreSQL ${major}, but this machine's server is PostgreSQL ${server.major}; ` +
        `remove that directory to start afresh (its data is lost) or install PostgreSQL ${major}`,
    );
  } else if (await isClusterRunning('timescaledb', server.binDir, paths.dataDir)) {
    throw new ServiceStartError(
      'timescaledb',
      `the stack's cluster in ${paths.dataDir} is running but does not answer at ${endpoint.host}:${endpoint.port}; ` +
        `see ${paths.logFile}, or stop it with: pg_ctl -D ${paths.dataDir} stop`,
    );
  }
  await writeHba(paths.dataDir, [
    { type: 'local', database: 'all', user: 'all', method: 'peer' },
    // Loopback TCP only, without a password: the local stack's URL carries none (architecture.md).
    { type: 'host', database: 'all', user: 'all', address: '127.0.0.1/32', method: 'trust' },
    { type: 'host', database: 'all', user: 'all', address: '::1/128', method: 'trust' },
  ]);
  await writeClusterConf(paths.dataDir, timescaleClusterSettings({ endpoint, socketDir: paths.socketDir }));
  log(
    `starting the stack's TimescaleDB cluster on ${endpoint.host}:${endpoint.port} (log: ${paths.logFile})`,
  );
  await startCluster('timescaledb', server, paths, options.startTimeoutMs);
  const started: NonNullable<StackState['timescaledb']> = {
    kind: 'pg_ctl',
    binDir: server.binDir,
    dataDir: paths.dataDir,
    port: endpoint.port,
    startedAt: new Date().toISOString(),
  };
  try {
    // pg_ctl -w returns once the server accepts connections; the TCP listener is up by then too.
    const answered = await pollUntil(async () => (await probePostgres(endpoint)).state === 'up', 10_000, 100);
    if (!answered) {
      throw new ServiceStartError(
        'timescaledb',
        `the stack's cluster started but does not answer at ${endpoint.host}:${endpoint.port}; see ${paths.logFile}`,
      );
    }
    await ensureDatabase(endpoint, 'timescaledb');
  } catch (error) {
    await stopTimescaleCluster(started).catch(() => undefined);
    throw error;
  }
  return started;
}

/** Stops the cluster `up` started (`pg_ctl stop -m fast`); its data stays for the next `up`. */
export async function stopTimescaleCluster(started: NonNullable<StackState['timescaledb']>): Promise<void> {
  await stopCluster('timescaledb', started.binDir, started.dataDir);
}

/**
 * What is wrong with the server at the TimescaleDB endpoint although it answers: not preloading
 * timescaledb (CREATE EXTENSION then ends the session), the extension not installed, telemetry on,
 * or too few worker processes for TimescaleDB's background jobs. Each says how to fix it.
 */
export function timescaleWarnings(
  probe: PostgresProbe & { state: 'up' },
  endpoint: Pick<PostgresEndpoint, 'port'>,
): string[] {
  const { timescaledb } = probe;
  const ownCluster = `or stop that server so \`./backbone stack up\` starts the stack's own TimescaleDB cluster on port ${endpoint.port}`;
  if (timescaledb.available === undefined) {
    return [
      'the TimescaleDB extension is not installed for this server, so the storage layer runs as plain PostgreSQL ' +
        `(storage.mode auto) or refuses (storage.mode timescaledb). Fix: install TimescaleDB there, ${ownCluster}`,
    ];
  }
  if (!timescaledb.preloaded) {
    return [
      `this server does not preload timescaledb (shared_preload_libraries = '${probe.preloadLibraries.join(',')}'): ` +
        'CREATE EXTENSION timescaledb ends the session, and storage.mode auto runs as plain PostgreSQL. ' +
        `Fix: add timescaledb to shared_preload_libraries in its postgresql.conf and restart it, ${ownCluster}`,
    ];
  }
  const warnings: string[] = [];
  if (timescaledb.telemetryLevel !== undefined && timescaledb.telemetryLevel !== 'off') {
    warnings.push(
      `timescaledb.telemetry_level is ${timescaledb.telemetryLevel}: its job cannot reach Timescale's server from here and fails. ` +
        "Fix: timescaledb.telemetry_level = 'off' in its postgresql.conf",
    );
  }
  const workers = timescaledb.workers;
  if (workers) {
    const needed = workers.maxBackgroundWorkers + workers.maxParallelWorkers + 3;
    if (workers.maxWorkerProcesses < needed) {
      warnings.push(
        `max_worker_processes is ${workers.maxWorkerProcesses}, less than timescaledb.max_background_workers (${workers.maxBackgroundWorkers}) ` +
          `+ max_parallel_workers (${workers.maxParallelWorkers}) + 3 = ${needed}: TimescaleDB's jobs fail with "failed to start job". ` +
          `Fix: max_worker_processes = ${needed} in its postgresql.conf, and restart it`,
      );
    }
  }
  return warnings;
}
