import { migrate } from '@backbone/db';
import { createKafkajsClient, type AdminPort, type KafkaClient, type ProducerPort } from '@backbone/kafka';
import { createLogger, type Logger } from '@backbone/telemetry';
import { testEndpoints, uniqueName } from '@backbone/testing';
import pg from 'pg';

/** The endpoints the global setup found. */
export function endpoints(): { databaseUrl: string; redisUrl: string; kafkaBrokers: string[] } {
  return testEndpoints();
}

/** A migrated database of its own for one test file, dropped by `drop()`. */
export interface TestDatabase {
  readonly name: string;
  readonly url: string;
  readonly pool: pg.Pool;
  drop(): Promise<void>;
}

/**
 * Creates a uniquely named database with the @backbone/db migrations applied. The migrations use
 * the fixed schemas market_data and backbone, so isolation is per database.
 */
export async function createMigratedDatabase(prefix: string): Promise<TestDatabase> {
  const serverUrl = endpoints().databaseUrl;
  const name = uniqueName(prefix);
  const adminUrl = withDatabase(serverUrl, 'postgres');
  const url = withDatabase(serverUrl, name);
  await withClient(adminUrl, (client) => client.query(`CREATE DATABASE ${name}`));
  await withClient(url, (client) => migrate(client));
  const pool = new pg.Pool({ connectionString: url, max: 8 });
  pool.on('error', () => undefined);
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

/** `url` with its database (path) replaced. */
export function withDatabase(serverUrl: string, database: string): string {
  const url = new URL(serverUrl);
  url.pathname = `/${database}`;
  return url.toString();
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

/** A Kafka client on the test broker, and the topics a test file created (deleted at dispose). */
export interface TestKafka {
  readonly client: KafkaClient;
  readonly admin: AdminPort;
  readonly producer: ProducerPort;
  topic(prefix: string, partitions?: number): Promise<string>;
  dispose(): Promise<void>;
}

export async function createTestKafka(): Promise<TestKafka> {
  const client = createKafkajsClient({
    brokers: endpoints().kafkaBrokers,
    clientId: uniqueName('stream_test'),
    logLevel: 'error',
  });
  const admin = client.admin();
  const producer = client.producer();
  await admin.connect();
  await producer.connect();
  const topics: string[] = [];
  return {
    client,
    admin,
    producer,
    async topic(prefix, partitions = 1) {
      const name = uniqueName(prefix);
      topics.push(name);
      await admin.createTopics([{ name, partitions, replicationFactor: 1, configs: {} }]);
      return name;
    },
    async dispose() {
      const existing = new Set(await admin.listTopics());
      const mine = topics.filter((topic) => existing.has(topic));
      if (mine.length > 0) await admin.deleteTopics(mine);
      await producer.close();
      await admin.close();
    },
  };
}

/** A quiet logger for tests: errors only (expected retries log warnings). */
export function testLogger(name: string): Logger {
  return createLogger({ name, level: 'error' });
}
