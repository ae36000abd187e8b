import { migrate } from '@backbone/db';
import { createKafkajsClient, type AdminPort, type KafkaClient, type ProducerPort } from '@backbone/kafka';
import { createLogger, type Logger } from '@backbone/telemetry';
import { createTestDatabase, testEndpoints, uniqueName, type TestDatabaseServer } from '@backbone/testing';
import pg from 'pg';

/** A migrated database of its own for one test file, with a pool on it; `drop()` removes both. */
export interface TestDatabase {
  readonly name: string;
  readonly url: string;
  readonly pool: pg.Pool;
  drop(): Promise<void>;
}

/**
 * {@link createTestDatabase} with the @backbone/db migrations, plus the pool the stream code under
 * test writes through. `server: 'plain'` puts it on plain PostgreSQL (partitioned storage mode).
 */
export async function createMigratedDatabase(
  prefix: string,
  { server }: { server?: TestDatabaseServer } = {},
): Promise<TestDatabase> {
  const database = await createTestDatabase(prefix, { migrate, server });
  const pool = new pg.Pool({ connectionString: database.url, max: 8 });
  // Outage tests kill connections on purpose; an idle client's error must not crash the run.
  pool.on('error', () => undefined);
  return {
    name: database.name,
    url: database.url,
    pool,
    async drop() {
      await pool.end();
      await database.drop();
    },
  };
}

/** A Kafka client on the test broker, and the topics a test file created (deleted at dispose). */
export interface TestKafka {
  readonly client: KafkaClient;
  readonly admin: AdminPort;
  readonly producer: ProducerPort;
  /** A topic of the test file's own; `configs` are topic configs such as `max.message.bytes`. */
  topic(prefix: string, partitions?: number, configs?: Record<string, string>): Promise<string>;
  dispose(): Promise<void>;
}

export async function createTestKafka(): Promise<TestKafka> {
  const client = createKafkajsClient({
    brokers: testEndpoints().kafkaBrokers,
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
    async topic(prefix, partitions = 1, configs = {}) {
      const name = uniqueName(prefix);
      topics.push(name);
      await admin.createTopics([{ name, partitions, replicationFactor: 1, configs }]);
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
