import { access, chown, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { dirname, join } from 'node:path';
import { aptInstall, isRoot } from './apt.ts';
import { ServiceStartError, type StackError } from './errors.ts';
import { CommandFailedError, run, tail, type RunResult } from './process.ts';

// A PostgreSQL cluster of our own: initdb, configuration files and pg_ctl, all as the `postgres`
// user (PostgreSQL refuses to run as root, and the data directory must belong to the user the
// server runs as). The stack's TimescaleDB cluster uses it; so can anything else that needs a
// private cluster (Patroni nodes: asPostgres + postgresOwnedDir + writeClusterConf/writeHba).

/** The operating-system user every cluster of ours runs as. */
export const POSTGRES_OS_USER = 'postgres';

/** PostgreSQL server binaries of one major version. */
export interface PostgresServer {
  major: string;
  /** Holds initdb, pg_ctl, postgres, pg_config. */
  binDir: string;
}

const debianPostgresRoot = '/usr/lib/postgresql';

/** The newest PostgreSQL server installed in Debian's layout (`/usr/lib/postgresql/<major>/bin`). */
export async function findPostgresServer(): Promise<PostgresServer | undefined> {
  const majors = (await readdir(debianPostgresRoot).catch(() => []))
    .filter((entry) => /^\d+$/.test(entry))
    .sort((a, b) => Number(b) - Number(a));
  for (const major of majors) {
    const binDir = join(debianPostgresRoot, major, 'bin');
    if (await exists(join(binDir, 'initdb'))) return { major, binDir };
  }
  return undefined;
}

/** {@link findPostgresServer}, installing the `postgresql` package first when it finds none (root only). */
export async function ensurePostgresServer(
  service: StackError['service'],
  log: (message: string) => void,
): Promise<PostgresServer> {
  const found = await findPostgresServer();
  if (found) return found;
  await aptInstall(service, ['postgresql'], 'PostgreSQL server (initdb, pg_ctl)', log);
  const installed = await findPostgresServer();
  if (!installed) {
    throw new ServiceStartError(
      service,
      `apt-get installed postgresql but ${debianPostgresRoot}/<major>/bin/initdb is still missing`,
    );
  }
  return installed;
}

/**
 * The command line that runs `file` as the postgres user: through `runuser` when this process is
 * root, unchanged when it already is postgres. Any other user cannot start our clusters: a clear
 * error says to run as root. For detached processes (`spawn`) as well as {@link runAsPostgres}.
 */
export function asPostgres(
  service: StackError['service'],
  file: string,
  args: readonly string[],
): { file: string; args: string[] } {
  if (isRoot()) return { file: 'runuser', args: ['-u', POSTGRES_OS_USER, '--', file, ...args] };
  const user = userInfo().username;
  if (user === POSTGRES_OS_USER) return { file, args: [...args] };
  throw new ServiceStartError(
    service,
    `${file} must run as the ${POSTGRES_OS_USER} user (PostgreSQL refuses root, and the cluster's files belong to ${POSTGRES_OS_USER}), ` +
      `but this process runs as ${user}: run \`sudo ./backbone stack up\` (or run it as ${POSTGRES_OS_USER}), ` +
      'or start the server yourself and point the database URL at it',
  );
}

/** Runs a program to completion as the postgres user ({@link asPostgres}). */
export async function runAsPostgres(
  service: StackError['service'],
  file: string,
  args: readonly string[],
  options: { timeoutMs?: number; cwd?: string } = {},
): Promise<RunResult> {
  const command = asPostgres(service, file, args);
  return run(command.file, command.args, options);
}

async function postgresIds(): Promise<{ uid: number; gid: number }> {
  const [uid, gid] = await Promise.all([
    run('id', ['-u', POSTGRES_OS_USER]),
    run('id', ['-g', POSTGRES_OS_USER]),
  ]);
  return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

/** Gives files written by this (root) process to the postgres user, so the server can read and rewrite them. */
async function giveToPostgres(...paths: string[]): Promise<void> {
  if (!isRoot()) return;
  const { uid, gid } = await postgresIds();
  for (const path of paths) await chown(path, uid, gid);
}

/**
 * Creates `dir` (and its parents) and makes it the postgres user's, then checks that user can
 * really write there: every parent must be traversable by it. A temporary folder made with
 * `mkdtemp` (mode 700) or a home directory is not; the error names the first parent in the way.
 */
export async function postgresOwnedDir(service: StackError['service'], dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  await giveToPostgres(dir);
  try {
    await runAsPostgres(service, 'test', ['-w', dir, '-a', '-x', dir]);
  } catch (error) {
    if (error instanceof ServiceStartError) throw error;
    const blocker = await firstUntraversableParent(dir);
    throw new ServiceStartError(
      service,
      `the ${POSTGRES_OS_USER} user cannot write to ${dir}` +
        (blocker
          ? `: ${blocker.path} (mode ${blocker.mode}) is not traversable by others; chmod o+x ${blocker.path}, or use a cache directory it can reach`
          : '; give it a cache directory it can reach'),
      { cause: error },
    );
  }
}

/** The first parent of `dir` that other users cannot traverse (no `o+x`), if any. */
export async function firstUntraversableParent(
  dir: string,
): Promise<{ path: string; mode: string } | undefined> {
  const chain: string[] = [];
  for (let current = dirname(dir); ; current = dirname(current)) {
    chain.unshift(current);
    if (dirname(current) === current) break;
  }
  for (const path of chain) {
    const info = await stat(path).catch(() => undefined);
    if (info && (info.mode & 0o001) === 0) return { path, mode: (info.mode & 0o777).toString(8) };
  }
  return undefined;
}

/** Where a cluster of ours keeps its files: `<dir>/data`, `<dir>/postgresql.log`, its unix socket in `<dir>`. */
export interface OwnClusterPaths {
  dir: string;
  dataDir: string;
  logFile: string;
  socketDir: string;
}

export function ownClusterPaths(dir: string): OwnClusterPaths {
  return { dir, dataDir: join(dir, 'data'), logFile: join(dir, 'postgresql.log'), socketDir: dir };
}

/** The major version that made a data directory (its `PG_VERSION`), or undefined when there is none yet. */
export async function dataDirMajor(dataDir: string): Promise<string | undefined> {
  try {
    return (await readFile(join(dataDir, 'PG_VERSION'), 'utf8')).trim();
  } catch (error) {
    // Root reads it anyway; another user cannot look into a 700 data directory, which counts as "there is one".
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/**
 * `initdb` as the postgres user: superuser `postgres`, UTF-8, locale C.UTF-8 (the same sort order on
 * every machine). Authentication is written afterwards by {@link writeHba}.
 */
export async function initCluster(
  service: StackError['service'],
  server: PostgresServer,
  paths: OwnClusterPaths,
): Promise<void> {
  try {
    await runAsPostgres(
      service,
      join(server.binDir, 'initdb'),
      [
        '-D',
        paths.dataDir,
        '-U',
        POSTGRES_OS_USER,
        '--encoding=UTF8',
        '--locale=C.UTF-8',
        '--auth-local=peer',
        '--auth-host=scram-sha-256',
      ],
      { cwd: paths.dir, timeoutMs: 120_000 },
    );
  } catch (error) {
    throw failed(service, 'initdb', error);
  }
}

/** A `postgresql.conf` value: numbers and booleans as they are, strings quoted. */
export type PostgresSettingValue = string | number | boolean;

/** `name = value` lines, strings in single quotes with quotes doubled. */
export function renderSettings(settings: Readonly<Record<string, PostgresSettingValue>>): string {
  return Object.entries(settings)
    .map(([name, value]) => {
      const rendered = typeof value === 'string' ? `'${value.replaceAll("'", "''")}'` : String(value);
      return `${name} = ${rendered}\n`;
    })
    .join('');
}

/** The file in the data directory holding our settings; `postgresql.conf` includes it. */
export const OWN_SETTINGS_FILE = 'backbone.conf';

/**
 * Writes `settings` to `<dataDir>/backbone.conf` (replacing it, so a changed sizing applies at the
 * next start) and makes initdb's `postgresql.conf` include it once, last, so our values win.
 */
export async function writeClusterConf(
  dataDir: string,
  settings: Readonly<Record<string, PostgresSettingValue>>,
): Promise<void> {
  const own = join(dataDir, OWN_SETTINGS_FILE);
  await writeFile(
    own,
    `# Written by @backbone/stack at every start; edits here are overwritten (docs/stack.md).\n${renderSettings(settings)}`,
    { mode: 0o600 },
  );
  const main = join(dataDir, 'postgresql.conf');
  const include = `include '${OWN_SETTINGS_FILE}'`;
  const text = await readFile(main, 'utf8');
  if (!text.split('\n').includes(include)) await writeFile(main, `${text.trimEnd()}\n\n${include}\n`);
  await giveToPostgres(own, main);
}

/** One `pg_hba.conf` line. */
export interface HbaEntry {
  type: 'local' | 'host';
  database: string;
  user: string;
  /** CIDR, for `host` lines. */
  address?: string;
  method: 'trust' | 'peer' | 'scram-sha-256' | 'reject';
}

/** Replaces `pg_hba.conf` with exactly these lines (first match wins, as in PostgreSQL). */
export async function writeHba(dataDir: string, entries: readonly HbaEntry[]): Promise<void> {
  const file = join(dataDir, 'pg_hba.conf');
  const lines = entries.map((entry) =>
    [entry.type, entry.database, entry.user, ...(entry.address ? [entry.address] : []), entry.method].join(
      ' ',
    ),
  );
  await writeFile(file, `# Written by @backbone/stack at every start.\n${lines.join('\n')}\n`, {
    mode: 0o600,
  });
  await giveToPostgres(file);
}

/**
 * `pg_ctl start -w` as the postgres user, logging to `paths.logFile`. pg_ctl detaches the
 * postmaster, so it outlives this process; stop it with {@link stopCluster}.
 */
export async function startCluster(
  service: StackError['service'],
  server: PostgresServer,
  paths: OwnClusterPaths,
  timeoutMs: number,
): Promise<void> {
  try {
    await runAsPostgres(
      service,
      join(server.binDir, 'pg_ctl'),
      ['-D', paths.dataDir, '-l', paths.logFile, '-w', '-t', String(Math.ceil(timeoutMs / 1000)), 'start'],
      { cwd: paths.dir, timeoutMs: timeoutMs + 10_000 },
    );
  } catch (error) {
    if (error instanceof ServiceStartError) throw error;
    throw new ServiceStartError(
      service,
      `pg_ctl start of ${paths.dataDir} failed: ${describe(error)}; the server's log (${paths.logFile}) ends with:\n${await tail(paths.logFile)}`,
      { cause: error },
    );
  }
}

/** True while a postmaster runs on this data directory (`pg_ctl status`). */
export async function isClusterRunning(
  service: StackError['service'],
  binDir: string,
  dataDir: string,
): Promise<boolean> {
  try {
    await runAsPostgres(service, join(binDir, 'pg_ctl'), ['-D', dataDir, 'status'], { cwd: '/' });
    return true;
  } catch (error) {
    if (error instanceof ServiceStartError) throw error;
    // Exit 3: not running; 4: no data directory.
    if (error instanceof CommandFailedError && (error.code === 3 || error.code === 4)) return false;
    throw error;
  }
}

/** `pg_ctl stop -m fast` (rolls back open transactions, shuts down cleanly); nothing when it is not running. */
export async function stopCluster(
  service: StackError['service'],
  binDir: string,
  dataDir: string,
): Promise<void> {
  if (!(await isClusterRunning(service, binDir, dataDir))) return;
  try {
    await runAsPostgres(
      service,
      join(binDir, 'pg_ctl'),
      ['-D', dataDir, '-m', 'fast', '-w', '-t', '60', 'stop'],
      {
        cwd: '/',
        timeoutMs: 70_000,
      },
    );
  } catch (error) {
    throw failed(service, 'pg_ctl stop', error);
  }
}

function describe(error: unknown): string {
  return error instanceof CommandFailedError ? error.stderr.trim() || error.message : String(error);
}

function failed(service: StackError['service'], what: string, error: unknown): StackError {
  if (error instanceof ServiceStartError) return error;
  return new ServiceStartError(service, `${what} failed: ${describe(error)}`, { cause: error });
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}
