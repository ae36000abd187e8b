import { spawn, type SpawnOptions } from 'node:child_process';
import { once } from 'node:events';
import { access, readdir, readFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { MissingToolError, ServiceStartError } from '../errors.ts';

// Small helpers the HA nodes need that the single-node TimescaleDB cluster of `stack up` needs
// too (running as the postgres user, TimescaleDB's server parameters): named so the two can be
// merged into one owner.

/** The operating-system account PostgreSQL runs as: it refuses to run as root. */
export interface PostgresOsUser {
  uid: number;
  gid: number;
  home: string;
}

/** The `postgres` account from /etc/passwd (created by the postgresql packages). */
export async function postgresOsUser(): Promise<PostgresOsUser> {
  const passwd = await readFile('/etc/passwd', 'utf8').catch(() => '');
  const fields = passwd
    .split('\n')
    .map((line) => line.split(':'))
    .find((entry) => entry[0] === 'postgres');
  if (!fields) {
    throw new MissingToolError(
      'ha',
      'the postgres operating-system user',
      'sudo apt-get install -y postgresql',
    );
  }
  const uid = process.getuid?.();
  if (uid !== 0 && uid !== Number(fields[2])) {
    throw new ServiceStartError(
      'ha',
      'the HA cluster runs PostgreSQL as the postgres user: run `./backbone stack up --ha` as root (or as postgres)',
    );
  }
  return { uid: Number(fields[2]), gid: Number(fields[3]), home: fields[5] ?? '/var/lib/postgresql' };
}

/**
 * Spawn options that run a program as the postgres user (libuv drops root's supplementary groups
 * too). Used instead of `runuser`, so the recorded pid is the program's own and a SIGTERM reaches
 * it directly.
 */
export function runAsPostgresOptions(user: PostgresOsUser): Pick<SpawnOptions, 'uid' | 'gid' | 'env'> {
  return {
    ...(process.getuid?.() === 0 ? { uid: user.uid, gid: user.gid } : {}),
    // A clean environment, not root's: the programs Patroni runs are found through its bin_dir,
    // so the system PATH is all it needs.
    env: {
      PATH: '/usr/local/bin:/usr/bin:/bin',
      HOME: user.home,
      LANG: 'C.UTF-8',
    },
  };
}

/** True when the postgres user can create files in `dir` (every parent must be traversable). */
export async function postgresUserCanWrite(user: PostgresOsUser, dir: string): Promise<boolean> {
  const child = spawn('test', ['-w', dir, '-a', '-x', dir], {
    ...runAsPostgresOptions(user),
    stdio: 'ignore',
  });
  const [code] = (await once(child, 'exit')) as [number | null];
  return code === 0;
}

/**
 * TimescaleDB's postgresql.conf parameters for a server of the stack: preloaded, telemetry off
 * (it cannot reach its server, and the failing telemetry job would show in job_stats), and
 * background workers sized as `timescaledb-tune` does: 16 TimescaleDB workers, one parallel
 * worker per CPU, and `max_worker_processes` = both + 3 (the launcher, the per-database
 * scheduler, and one spare). The default of 8 is too small: policy jobs then fail with
 * `failed to start job`.
 */
export function timescaledbServerParameters(): Record<string, string> {
  const cpus = availableParallelism();
  const backgroundWorkers = 16;
  return {
    shared_preload_libraries: 'timescaledb',
    'timescaledb.telemetry_level': 'off',
    'timescaledb.max_background_workers': String(backgroundWorkers),
    max_parallel_workers: String(cpus),
    max_worker_processes: String(backgroundWorkers + cpus + 3),
  };
}

/**
 * The newest `/usr/lib/postgresql/<version>/bin` whose server has TimescaleDB installed
 * (`lib/timescaledb.so`).
 */
export async function timescaledbPostgresBinDir(): Promise<string> {
  const root = '/usr/lib/postgresql';
  const versions = (await readdir(root).catch(() => [])).sort((a, b) => Number(b) - Number(a));
  for (const version of versions) {
    const installed = await access(join(root, version, 'lib', 'timescaledb.so')).then(
      () => true,
      () => false,
    );
    if (installed) return join(root, version, 'bin');
  }
  throw new ServiceStartError(
    'ha',
    `TimescaleDB is not installed for any PostgreSQL under ${root} (${versions.join(', ') || 'none'}); ` +
      '`./backbone stack up` (without --ha) installs it, then run `./backbone stack up --ha` again',
  );
}

/**
 * Refuses a bin directory without a PostgreSQL server, or whose server lacks TimescaleDB
 * (`../lib/timescaledb.so`), before anything is started: Patroni would only fail later with a
 * Python traceback.
 */
export async function assertTimescaledbBinDir(binDir: string): Promise<void> {
  const exists = (path: string): Promise<boolean> =>
    access(path).then(
      () => true,
      () => false,
    );
  if (!(await exists(join(binDir, 'postgres')))) {
    throw new ServiceStartError(
      'ha',
      `no PostgreSQL server in ${binDir} (no postgres program there); install postgresql-15 or point ha.postgresBinDir at a PostgreSQL bin directory`,
    );
  }
  if (!(await exists(join(binDir, '..', 'lib', 'timescaledb.so')))) {
    throw new ServiceStartError(
      'ha',
      `the PostgreSQL in ${binDir} has no TimescaleDB (${join(binDir, '..', 'lib', 'timescaledb.so')} is missing); ` +
        '`./backbone stack up` (without --ha) installs it',
    );
  }
}
