import { createPool, migrate } from '@backbone/db';
import { uniqueName } from '@backbone/testing';
import pg from 'pg';

/** A migrated database of its own for one test file (the migrations use fixed schema names). */
export interface TestDatabase {
  name: string;
  url: string;
  pool: pg.Pool;
  drop(): Promise<void>;
}

/**
 * Creates a uniquely named database, migrated unless `migrated: false`, with a pool on it.
 *
 * @example const db = await createTestDatabase(endpoints().databaseUrl, 'readiness'); afterAll(() => db.drop());
 */
export async function createTestDatabase(
  serverUrl: string,
  prefix: string,
  { migrated = true }: { migrated?: boolean } = {},
): Promise<TestDatabase> {
  const name = uniqueName(prefix);
  const adminUrl = withDatabase(serverUrl, 'postgres');
  const url = withDatabase(serverUrl, name);
  await withClient(adminUrl, (client) => client.query(`CREATE DATABASE ${name}`));
  if (migrated) {
    await withClient(url, async (client) => {
      // Plain partitioning: the local PostgreSQL has no TimescaleDB.
      await migrate(client, { mode: 'auto' });
    });
  }
  const pool = createPool({ url, poolSize: 4, statementTimeoutMs: 10_000 });
  return {
    name,
    url,
    pool,
    async drop() {
      await pool.end();
      await withClient(adminUrl, (client) => client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
    },
  };
}

async function withClient<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

function withDatabase(serverUrl: string, database: string): string {
  const url = new URL(serverUrl);
  url.pathname = `/${database}`;
  return url.toString();
}
