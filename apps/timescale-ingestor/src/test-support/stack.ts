import { migrate } from '@backbone/db';
import { testEndpoints, uniqueName } from '@backbone/testing';
import pg from 'pg';

/** The endpoints the global setup found. */
export function endpoints(): { databaseUrl: string; redisUrl: string } {
  return testEndpoints();
}

/** A migrated database of its own, dropped by `drop()`. */
export async function createMigratedDatabase(
  prefix: string,
): Promise<{ url: string; drop(): Promise<void> }> {
  const name = uniqueName(prefix);
  const admin = new URL(endpoints().databaseUrl);
  admin.pathname = '/postgres';
  const url = new URL(endpoints().databaseUrl);
  url.pathname = `/${name}`;
  await withClient(admin.toString(), (client) => client.query(`CREATE DATABASE ${name}`));
  await withClient(url.toString(), (client) => migrate(client));
  return {
    url: url.toString(),
    drop: () =>
      withClient(admin.toString(), (client) =>
        client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`),
      ).then(() => undefined),
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
