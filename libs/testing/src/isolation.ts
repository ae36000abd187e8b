import { Redis } from 'ioredis';
import { Kafka, logLevel } from 'kafkajs';
import pg from 'pg';
import { testEndpoints } from './endpoints.ts';
import { uniqueName } from './unique-name.ts';
import { waitFor } from './wait-for.ts';

/** A per-test resource that removes itself; usable with `await using` or an explicit `drop()`. */
export interface TestResource {
  drop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

function disposable<T extends object>(value: T, drop: () => Promise<void>): T & TestResource {
  let dropped: Promise<void> | undefined;
  // Idempotent: dropping twice (afterAll and `await using`) runs the cleanup once.
  const once = (): Promise<void> => (dropped ??= drop());
  return Object.assign(value, { drop: once, [Symbol.asyncDispose]: once });
}

/**
 * A fresh PostgreSQL schema with a unique name, dropped (CASCADE) by `drop()`.
 *
 * @example
 * const schema = await createTestSchema(inject('endpoints').databaseUrl, 'bars');
 * afterAll(() => schema.drop());
 * await client.query(`create table ${schema.name}.bars (…)`);
 */
export async function createTestSchema(
  databaseUrl: string,
  prefix: string,
): Promise<{ name: string } & TestResource> {
  // uniqueName() yields ^[a-z_][a-z0-9_]*$, a valid unquoted identifier, so interpolating it is safe.
  const name = uniqueName(prefix);
  await withClient(databaseUrl, (client) => client.query(`create schema ${name}`));
  return disposable({ name }, () =>
    withClient(databaseUrl, (client) => client.query(`drop schema if exists ${name} cascade`)).then(
      () => undefined,
    ),
  );
}

/** The stack's TimescaleDB cluster (the default) or the machine's plain PostgreSQL. */
export type TestDatabaseServer = 'timescaledb' | 'plain';

/** A database of its own on the test server; `url` points at it. */
export interface TestDatabase extends TestResource {
  readonly name: string;
  readonly url: string;
}

/**
 * A fresh PostgreSQL database with a unique name on the test server, dropped (`WITH (FORCE)`,
 * so leftover connections do not block it) by `drop()`. Pass `migrate` from `@backbone/db` to
 * apply the schema migrations: they use fixed schema names, so isolating them needs a database,
 * not a schema. (`migrate` is passed in rather than imported so that libs/db's own tests can use
 * this harness without a dependency cycle.)
 *
 * @example
 * import { migrate } from '@backbone/db';
 * const db = await createTestDatabase('ingest', { migrate });
 * afterAll(() => db.drop());
 * const pool = createPool({ url: db.url, poolSize: 4 });
 */
export async function createTestDatabase(
  prefix: string,
  {
    migrate,
    server = 'timescaledb',
  }: {
    migrate?: (client: pg.Client) => Promise<unknown>;
    /** `plain`: the machine's PostgreSQL without TimescaleDB (plain-PostgreSQL storage mode). */
    server?: TestDatabaseServer;
  } = {},
): Promise<TestDatabase> {
  const name = uniqueName(prefix);
  // The name is interpolated into CREATE/DROP DATABASE (identifiers cannot be parameters).
  if (!SQL_IDENTIFIER.test(name)) throw new Error(`invalid test database name: ${name}`);
  const endpoints = testEndpoints();
  const serverUrl = server === 'plain' ? endpoints.plainDatabaseUrl : endpoints.databaseUrl;
  const adminUrl = withDatabase(serverUrl, 'postgres');
  const url = withDatabase(serverUrl, name);
  await withClient(adminUrl, (client) => client.query(`CREATE DATABASE ${name}`));
  const database = disposable({ name, url }, async () => {
    await withClient(adminUrl, (client) => client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
  });
  if (migrate !== undefined) {
    try {
      await withClient(url, migrate);
      await withClient(url, waitForFirstJobRuns);
    } catch (error) {
      await database.drop();
      throw error;
    }
  }
  return database;
}

const SQL_IDENTIFIER = /^[a-z_][a-z0-9_]{0,62}$/;

/**
 * On TimescaleDB, waits until the server's job scheduler has finished the first run of every job
 * the migration added. It starts them right away, in the background: the bar prune would delete
 * the test's 1m bars older than their retention (30 days) and the compression policy would
 * compress chunks under a test that had just written them. After the first runs, the next are
 * hours away. Nothing to wait for on plain PostgreSQL. `createTestDatabase` calls it after
 * `migrate`; a test that migrates by itself calls it after its own `migrate`.
 */
export async function waitForFirstJobRuns(client: pg.ClientBase): Promise<void> {
  const extension = await client.query(`SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'`);
  if (extension.rows.length === 0) return;
  await waitFor(
    async () => {
      const pending = await client.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM timescaledb_information.jobs j
         LEFT JOIN timescaledb_information.job_stats s ON s.job_id = j.job_id
         WHERE j.job_id >= 1000 AND j.scheduled AND (s.last_run_status IS NULL OR s.job_status = 'Running')`,
      );
      return pending.rows[0]?.n === 0;
    },
    {
      timeoutMs: 60_000,
      intervalMs: 100,
      description: "the first run of the new database's TimescaleDB jobs",
    },
  );
}

function withDatabase(serverUrl: string, database: string): string {
  const url = new URL(serverUrl);
  url.pathname = `/${database}`;
  return url.toString();
}

async function withClient<T>(databaseUrl: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/**
 * A Kafka topic with a unique name, created (leaders elected) before it returns and deleted by
 * `drop()`. Use `uniqueName('group')` for consumer groups alongside it.
 *
 * @example
 * const topic = await createTestTopic(inject('endpoints').kafkaBrokers, 'bars', { partitions: 3 });
 * afterAll(() => topic.drop());
 */
export async function createTestTopic(
  brokers: string[],
  prefix: string,
  { partitions = 1 }: { partitions?: number } = {},
): Promise<{ name: string } & TestResource> {
  const name = uniqueName(prefix);
  const admin = new Kafka({ clientId: 'backbone-test-topic', brokers, logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    await admin.createTopics({ topics: [{ topic: name, numPartitions: partitions }], waitForLeaders: true });
  } finally {
    await admin.disconnect();
  }
  return disposable({ name }, async () => {
    const cleanup = new Kafka({
      clientId: 'backbone-test-topic',
      brokers,
      logLevel: logLevel.NOTHING,
    }).admin();
    await cleanup.connect();
    try {
      await cleanup.deleteTopics({ topics: [name] });
    } finally {
      await cleanup.disconnect();
    }
  });
}

/**
 * A unique Redis key namespace (`t_<prefix>_<hex>:`); `drop()` deletes every key under it
 * (SCAN + UNLINK, never FLUSHDB: other test files share the server).
 *
 * @example
 * const ns = createTestKeyNamespace(inject('endpoints').redisUrl, 'cache');
 * afterAll(() => ns.drop());
 * const client = new Redis(redisUrl, { keyPrefix: ns.prefix });
 */
export function createTestKeyNamespace(redisUrl: string, prefix: string): { prefix: string } & TestResource {
  const namespace = `${uniqueName(prefix)}:`;
  return disposable({ prefix: namespace }, async () => {
    const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
    await redis.connect();
    try {
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${namespace}*`, 'COUNT', 500);
        if (keys.length > 0) await redis.unlink(...keys);
        cursor = next;
      } while (cursor !== '0');
    } finally {
      redis.disconnect();
    }
  });
}
