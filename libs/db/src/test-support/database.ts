import { uniqueName } from '@backbone/testing';
import pg from 'pg';
import { inject } from 'vitest';

/** A database of its own for one test file, dropped by `drop()`. */
export interface TestDatabase {
  name: string;
  url: string;
  /** A new connected client on the test database; closed by `drop()`. */
  connect(): Promise<pg.Client>;
  drop(): Promise<void>;
}

/**
 * Creates a uniquely named database on the server behind `serverUrl`. The migrations use the
 * fixed schema names market_data and backbone, so isolation is per database, not per schema.
 */
export async function createTestDatabase(serverUrl: string, prefix: string): Promise<TestDatabase> {
  const name = uniqueName(prefix);
  const adminUrl = withDatabase(serverUrl, 'postgres');
  const url = withDatabase(serverUrl, name);
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const clients: pg.Client[] = [];
  return {
    name,
    url,
    async connect() {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      clients.push(client);
      return client;
    },
    async drop() {
      await Promise.allSettled(clients.map((client) => client.end()));
      const dropper = new pg.Client({ connectionString: adminUrl });
      await dropper.connect();
      try {
        await dropper.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await dropper.end();
      }
    },
  };
}

function withDatabase(serverUrl: string, database: string): string {
  const url = new URL(serverUrl);
  url.pathname = `/${database}`;
  return url.toString();
}

/** The two real servers the storage tests run on: one per storage mode. */
export type DatabaseServer = 'timescaledb' | 'plain';

/** Both servers, for `describe.each` over the storage modes. */
export const DATABASE_SERVERS: readonly DatabaseServer[] = ['timescaledb', 'plain'];

/**
 * The URL of a server the global setup found, typed: `timescaledb`, the stack's TimescaleDB
 * cluster (preloaded, job scheduler running), or `plain`, the machine's PostgreSQL (TimescaleDB
 * installed but not preloaded, so plain partitioning). The `ProvidedContext` augmentation lives in
 * the testing lib's global setup, which this project's compilation does not see.
 */
export function databaseServerUrl(server: DatabaseServer): string {
  const endpoints = (
    inject as unknown as (key: 'endpoints') => { databaseUrl: string; plainDatabaseUrl: string }
  )('endpoints');
  return server === 'plain' ? endpoints.plainDatabaseUrl : endpoints.databaseUrl;
}
