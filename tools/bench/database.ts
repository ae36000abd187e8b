import { randomBytes } from 'node:crypto';
import { migrate } from '@backbone/db';
import pg from 'pg';

// Interpolated into CREATE/DROP DATABASE and psql scripts (identifiers cannot be parameters).
const SQL_IDENTIFIER = /^[a-z_][a-z0-9_]{0,62}$/;

/** A lower-case name no other run (or helper) uses: `<prefix>_<base36 time>_<hex>`. */
export function uniqueBenchName(prefix: string): string {
  const name = `${prefix}_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
  if (!SQL_IDENTIFIER.test(name)) throw new RangeError(`invalid benchmark name: ${name}`);
  return name;
}

/** A freshly migrated database of the benchmark's own; `drop()` removes it WITH (FORCE). */
export interface BenchDatabase {
  readonly name: string;
  readonly url: string;
  /** Empties the market data and the sink's bookkeeping, so every repetition inserts new rows. */
  reset(): Promise<void>;
  drop(): Promise<void>;
}

export async function createBenchDatabase(serverUrl: string, prefix: string): Promise<BenchDatabase> {
  const name = uniqueBenchName(prefix);
  const adminUrl = withDatabase(serverUrl, 'postgres');
  const url = withDatabase(serverUrl, name);
  await withClient(adminUrl, (client) => client.query(`CREATE DATABASE ${name}`));
  const drop = async (): Promise<void> => {
    await withClient(adminUrl, (client) => client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
  };
  try {
    await withClient(url, (client) => migrate(client));
  } catch (error) {
    await drop();
    throw error;
  }
  return {
    name,
    url,
    drop,
    reset: () =>
      withClient(url, (client) =>
        client.query(
          'TRUNCATE market_data.bars, backbone.consumer_offsets, backbone.outbox, backbone.ingest_runs CASCADE',
        ),
      ).then(() => undefined),
  };
}

/** Rows stored in `market_data.bars`, to check that every side of a comparison wrote them all. */
export function countBars(url: string): Promise<number> {
  return withClient(url, async (client) => {
    const result = await client.query<{ n: string }>('SELECT count(*) AS n FROM market_data.bars');
    return Number(result.rows[0]?.n ?? 0);
  });
}

function withDatabase(serverUrl: string, database: string): string {
  const url = new URL(serverUrl);
  url.pathname = `/${database}`;
  return url.toString();
}

/** One short-lived connection to `url` for `work`. */
export async function withClient<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}
