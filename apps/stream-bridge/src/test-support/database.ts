import { migrate } from '@backbone/db';
import { testEndpoints, uniqueName } from '@backbone/testing';
import pg from 'pg';

/** A migrated database of its own for one test file; `drop()` removes it. */
export async function createMigratedDatabase(
  prefix: string,
): Promise<{ url: string; drop(): Promise<void> }> {
  const server = new URL(testEndpoints().databaseUrl);
  const name = uniqueName(prefix);
  const admin = new URL(server);
  admin.pathname = '/postgres';
  const url = new URL(server);
  url.pathname = `/${name}`;
  await withClient(admin.toString(), (client) => client.query(`CREATE DATABASE ${name}`));
  await withClient(url.toString(), (client) => migrate(client));
  return {
    url: url.toString(),
    drop: async () => {
      await withClient(admin.toString(), (client) =>
        client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`),
      );
    },
  };
}

async function withClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}
