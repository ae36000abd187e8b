import { readdir } from 'node:fs/promises';
import { redactText } from '@backbone/config';
import pg from 'pg';
import { MissingToolError, ServiceStartError } from './errors.ts';
import { isLocalHost, type PostgresEndpoint } from './options.ts';
import { CommandFailedError, isInstalled, pollUntil, run } from './process.ts';
import type { StackState } from './state.ts';

const identifierPattern = /^[a-z_][a-z0-9_]{0,62}$/;

export type PostgresProbe =
  | { state: 'up'; version: string; databaseExists: boolean }
  | { state: 'down'; error: Error & { code?: string } };

function client(endpoint: PostgresEndpoint, database: string): pg.Client {
  return new pg.Client({
    host: endpoint.host,
    port: endpoint.port,
    user: endpoint.user,
    password: endpoint.password,
    database,
    connectionTimeoutMillis: 3_000,
  });
}

/**
 * Asks the server itself: `select version()` on the `postgres` database, and whether the
 * configured database exists.
 *
 * @example const probe = await probePostgres(stackOptions().postgres);
 */
export async function probePostgres(endpoint: PostgresEndpoint): Promise<PostgresProbe> {
  const connection = client(endpoint, 'postgres');
  try {
    await connection.connect();
    const version = await connection.query<{ version: string }>('select version()');
    const database = await connection.query('select 1 from pg_database where datname = $1', [
      endpoint.database,
    ]);
    return {
      state: 'up',
      version: version.rows[0]?.version ?? 'unknown',
      databaseExists: database.rowCount === 1,
    };
  } catch (error) {
    return { state: 'down', error: error as Error & { code?: string } };
  } finally {
    await connection.end().catch(() => undefined);
  }
}

/** Creates the configured database when it does not exist yet. */
export async function ensureDatabase(endpoint: PostgresEndpoint): Promise<void> {
  if (!identifierPattern.test(endpoint.database)) {
    throw new ServiceStartError(
      'postgres',
      `database name "${endpoint.database}" is not a valid identifier (${identifierPattern.source})`,
    );
  }
  const connection = client(endpoint, 'postgres');
  try {
    await connection.connect();
    const existing = await connection.query('select 1 from pg_database where datname = $1', [
      endpoint.database,
    ]);
    if (existing.rowCount === 0) {
      // CREATE DATABASE takes no parameters; the name was validated against the identifier pattern above.
      await connection.query(`create database "${endpoint.database}"`).catch((error: unknown) => {
        // Two concurrent `up`s may race here; the loser finds what it wanted.
        if ((error as { code?: string }).code !== '42P04') throw error;
      });
    }
  } finally {
    await connection.end().catch(() => undefined);
  }
}

interface Cluster {
  version: string;
  name: string;
  port: number;
  online: boolean;
}

async function listClusters(): Promise<Cluster[]> {
  const { stdout } = await run('pg_lsclusters', ['--no-header']);
  return stdout
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .filter((fields) => fields.length >= 4)
    .map(([version = '', name = '', port = '', status = '']) => ({
      version,
      name,
      port: Number(port),
      online: status.startsWith('online'),
    }));
}

const isRoot = (): boolean => process.getuid?.() === 0;

/**
 * Makes PostgreSQL answer on the endpoint and the database exist. Reuses a server that answers;
 * otherwise starts Debian's cluster for that port (installing the `postgresql` package first when
 * running as root and it is missing, and creating the cluster when the machine has none).
 * Returns what it started, for the state file, or undefined when it reused a running server.
 */
export async function ensurePostgres(
  endpoint: PostgresEndpoint,
  log: (message: string) => void,
): Promise<StackState['postgres']> {
  const where = `${endpoint.host}:${endpoint.port}`;
  const first = await probePostgres(endpoint);
  if (first.state === 'up') {
    await ensureDatabase(endpoint);
    return undefined;
  }
  const refused = first.error.code === 'ECONNREFUSED';
  if (!refused) {
    // It answers but turns us away (authentication, too many clients …): starting another server would not help.
    throw new ServiceStartError(
      'postgres',
      `PostgreSQL at ${where} answers but refused user ${endpoint.user}: ${redactText(first.error.message)}. ` +
        'Give the database URL the right credentials, or allow trust auth for 127.0.0.1 in pg_hba.conf for local development.',
      { cause: first.error },
    );
  }
  if (!isLocalHost(endpoint.host)) {
    throw new ServiceStartError(
      'postgres',
      `nothing answers at ${where} and it is not on this machine; start PostgreSQL there or point the database URL elsewhere`,
    );
  }

  if (!(await isInstalled('pg_lsclusters', ['--help']))) {
    if (!isRoot()) {
      throw new MissingToolError(
        'postgres',
        'PostgreSQL (pg_lsclusters)',
        'sudo apt-get install -y postgresql',
      );
    }
    log('PostgreSQL is not installed: apt-get install -y postgresql');
    await run('env', ['DEBIAN_FRONTEND=noninteractive', 'apt-get', 'install', '-y', '-q', 'postgresql'], {
      timeoutMs: 600_000,
    });
  }

  let clusters = await listClusters();
  let cluster = clusters.find((candidate) => candidate.port === endpoint.port);
  let created = false;
  if (!cluster && clusters.length === 0) {
    const versions = (await readdir('/usr/lib/postgresql').catch(() => [])).sort(
      (a, b) => Number(b) - Number(a),
    );
    const version = versions[0];
    if (!version)
      throw new MissingToolError(
        'postgres',
        'PostgreSQL server binaries',
        'sudo apt-get install -y postgresql',
      );
    log(`creating PostgreSQL cluster ${version}/main on port ${endpoint.port}`);
    // Trust for TCP from localhost only: the local stack's URL carries no password (architecture.md).
    await runPgTool('pg_createcluster', [
      version,
      'main',
      '--port',
      String(endpoint.port),
      '--',
      '--auth-host=trust',
      '--auth-local=peer',
    ]);
    created = true;
    clusters = await listClusters();
    cluster = clusters.find((candidate) => candidate.port === endpoint.port);
  }
  if (!cluster) {
    const known = clusters
      .map((c) => `${c.version}/${c.name} on port ${c.port} (${c.online ? 'online' : 'down'})`)
      .join(', ');
    throw new ServiceStartError(
      'postgres',
      `nothing answers at ${where} and no PostgreSQL cluster is configured for port ${endpoint.port} (clusters: ${known}). ` +
        `Start the server that should listen there, or point the database URL at a running one.`,
    );
  }
  if (cluster.online) {
    throw new ServiceStartError(
      'postgres',
      `PostgreSQL cluster ${cluster.version}/${cluster.name} is online but refuses connections at ${where}; check listen_addresses in its postgresql.conf`,
    );
  }
  log(`starting PostgreSQL cluster ${cluster.version}/${cluster.name}${created ? ' (new)' : ''}`);
  await runPgTool('pg_ctlcluster', [cluster.version, cluster.name, 'start']);
  const answered = await pollUntil(async () => (await probePostgres(endpoint)).state === 'up', 30_000, 200);
  if (!answered) {
    await runPgTool('pg_ctlcluster', [cluster.version, cluster.name, 'stop']).catch(() => undefined);
    throw new ServiceStartError(
      'postgres',
      `PostgreSQL cluster ${cluster.version}/${cluster.name} started but did not answer at ${where} within 30 s; see /var/log/postgresql/`,
    );
  }
  await ensureDatabase(endpoint);
  return {
    kind: 'pg_ctlcluster',
    version: cluster.version,
    cluster: cluster.name,
    port: endpoint.port,
    startedAt: new Date().toISOString(),
  };
}

async function runPgTool(tool: string, args: string[]): Promise<void> {
  try {
    await run(tool, args, { timeoutMs: 120_000 });
  } catch (error) {
    const how = isRoot()
      ? ''
      : ' (run `./backbone stack up` as root, or start the cluster as the postgres user)';
    throw new ServiceStartError(
      'postgres',
      `${tool} ${args.join(' ')} failed${how}: ${error instanceof CommandFailedError ? error.stderr.trim() : String(error)}`,
      { cause: error },
    );
  }
}

/** Stops a cluster that `up` started. */
export async function stopPostgres(started: NonNullable<StackState['postgres']>): Promise<void> {
  await runPgTool('pg_ctlcluster', [started.version, started.cluster, 'stop']);
}
