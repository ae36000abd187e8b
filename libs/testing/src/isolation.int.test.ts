import { Redis } from 'ioredis';
import { Kafka, logLevel } from 'kafkajs';
import pg from 'pg';
import { describe, expect, inject, it } from 'vitest';
import {
  createTestDatabase,
  createTestKeyNamespace,
  createTestSchema,
  createTestTopic,
} from './isolation.ts';
import { uniqueName } from './unique-name.ts';

// Round trips through each real service, using the isolation helpers the other test files use.
const endpoints = inject('endpoints');

describe('createTestSchema', () => {
  it('gives a schema to write and query in, and drops it with its tables', async () => {
    const schema = await createTestSchema(endpoints.databaseUrl, 'roundtrip');
    const client = new pg.Client({ connectionString: endpoints.databaseUrl });
    await client.connect();
    try {
      await client.query(
        `create table ${schema.name}.bars (symbol text primary key, close numeric not null)`,
      );
      await client.query(`insert into ${schema.name}.bars values ($1, $2)`, ['EURUSD', '1.0844']);
      const { rows } = await client.query<{ symbol: string; close: string }>(
        `select symbol, close from ${schema.name}.bars`,
      );
      expect(rows).toEqual([{ symbol: 'EURUSD', close: '1.0844' }]);

      await schema.drop();
      const left = await client.query('select 1 from information_schema.schemata where schema_name = $1', [
        schema.name,
      ]);
      expect(left.rowCount).toBe(0);
    } finally {
      await client.end();
    }
  });
});

describe('createTestDatabase', () => {
  it('creates a database, runs the given migration in it, and drops it despite open connections', async () => {
    const database = await createTestDatabase('roundtrip', {
      migrate: (client) => client.query('create table bars (symbol text primary key)'),
    });
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    client.on('error', () => undefined); // DROP ... WITH (FORCE) terminates this connection
    await client.query('insert into bars values ($1)', ['EURUSD']);
    const { rows } = await client.query<{ symbol: string }>('select symbol from bars');
    expect(rows).toEqual([{ symbol: 'EURUSD' }]);

    await database.drop();
    await client.end().catch(() => undefined);
    const admin = new pg.Client({ connectionString: endpoints.databaseUrl });
    await admin.connect();
    try {
      const left = await admin.query('select 1 from pg_database where datname = $1', [database.name]);
      expect(left.rowCount).toBe(0);
    } finally {
      await admin.end();
    }
  });

  it('drops the database again when the migration fails', async () => {
    const prefix = uniqueName('failing');
    await expect(
      createTestDatabase(prefix, { migrate: (client) => client.query('select * from no_such_table') }),
    ).rejects.toThrow(/no_such_table/);
    const admin = new pg.Client({ connectionString: endpoints.databaseUrl });
    await admin.connect();
    try {
      const left = await admin.query('select 1 from pg_database where datname like $1', [`t_${prefix}_%`]);
      expect(left.rowCount).toBe(0);
    } finally {
      await admin.end();
    }
  });
});

describe('createTestKeyNamespace', () => {
  it('round-trips SET/GET under its prefix and deletes only its own keys', async () => {
    const namespace = createTestKeyNamespace(endpoints.redisUrl, 'roundtrip');
    const neighbour = createTestKeyNamespace(endpoints.redisUrl, 'neighbour');
    const redis = new Redis(endpoints.redisUrl);
    try {
      await redis.set(`${namespace.prefix}bar`, 'EURUSD 1.0844');
      await redis.set(`${neighbour.prefix}bar`, 'kept');
      expect(await redis.get(`${namespace.prefix}bar`)).toBe('EURUSD 1.0844');

      await namespace.drop();
      expect(await redis.exists(`${namespace.prefix}bar`)).toBe(0);
      expect(await redis.get(`${neighbour.prefix}bar`)).toBe('kept');
    } finally {
      await neighbour.drop();
      redis.disconnect();
    }
  });
});

describe('createTestTopic', () => {
  it('creates a topic that round-trips a record through a consumer group, and deletes it', async () => {
    const topic = await createTestTopic(endpoints.kafkaBrokers, 'roundtrip', { partitions: 2 });
    const kafka = new Kafka({
      clientId: 'isolation-test',
      brokers: endpoints.kafkaBrokers,
      logLevel: logLevel.NOTHING,
    });
    const producer = kafka.producer({ idempotent: true });
    const consumer = kafka.consumer({ groupId: uniqueName('group') });
    const admin = kafka.admin();
    await Promise.all([producer.connect(), consumer.connect(), admin.connect()]);
    try {
      const value = JSON.stringify({ symbol: 'EURUSD', close: 1.0844 });
      await producer.send({ topic: topic.name, acks: -1, messages: [{ key: 'EURUSD', value }] });

      await consumer.subscribe({ topic: topic.name, fromBeginning: true });
      const received = new Promise<{ key: string | undefined; value: string | undefined }>((resolve) => {
        void consumer.run({
          eachMessage: ({ message }) => {
            resolve({ key: message.key?.toString(), value: message.value?.toString() });
            return Promise.resolve();
          },
        });
      });
      await expect(received).resolves.toEqual({ key: 'EURUSD', value });

      await consumer.disconnect();
      await topic.drop();
      expect(await admin.listTopics()).not.toContain(topic.name);
    } finally {
      await Promise.all([producer.disconnect(), consumer.disconnect(), admin.disconnect()]);
    }
  });
});
