import { migrate } from '@backbone/db';
import { testEndpoints, uniqueName } from '@backbone/testing';
import pg from 'pg';

/** A migrated database of its own for one test file, dropped by `drop()`. */
export interface TestDatabase {
  name: string;
  url: string;
  drop(): Promise<void>;
}

/**
 * Creates a uniquely named database on the test server and runs the @backbone/db migrations in
 * it. The migrations use fixed schema names, so isolation is per database.
 */
export async function createMigratedDatabase(prefix: string): Promise<TestDatabase> {
  const serverUrl = testEndpoints().databaseUrl;
  const name = uniqueName(prefix);
  const adminUrl = withDatabase(serverUrl, 'postgres');
  const url = withDatabase(serverUrl, name);
  await withClient(adminUrl, (client) => client.query(`CREATE DATABASE ${name}`));
  await withClient(url, (client) => migrate(client));
  return {
    name,
    url,
    async drop() {
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
