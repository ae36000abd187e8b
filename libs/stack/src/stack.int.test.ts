import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { MissingToolError, PortInUseError, ServiceStartError } from './errors.ts';
import { freePort } from './free-port.ts';
import { ensureKafka, kafkaFiles, probeKafka } from './kafka.ts';
import { stackOptions, type StackOptionsInput } from './options.ts';
import { ensurePlainPostgres, probePostgres } from './postgres.ts';
import { isPortOpen, pollUntil } from './process.ts';
import { ensureRedis, probeRedis, stopRedis } from './redis.ts';
import { stackDown, stackStatus, stackUp } from './stack.ts';
import { readState, updateState } from './state.ts';

// These tests start their own services (a private Kafka broker, a private redis-server) on free
// ports with a temporary cache folder. They never stop the shared PostgreSQL, Redis or Kafka:
// other test files and other people's runs use those.
const sharedLibsDir = stackOptions().kafkaLibsDir;
const tempDirs: string[] = [];

async function tempCacheDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `backbone-stack-${randomBytes(3).toString('hex')}-`));
  tempDirs.push(dir);
  return dir;
}

function listen(): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer((socket) => socket.destroy()).listen(0, '127.0.0.1', () => {
      resolve(server);
    });
    server.once('error', reject);
  });
}

function portOf(server: Server): number {
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('not a TCP server');
  return address.port;
}

async function privateOptions(overrides: StackOptionsInput = {}): Promise<ReturnType<typeof stackOptions>> {
  return stackOptions({
    cacheDir: await tempCacheDir(),
    kafkaLibsDir: sharedLibsDir,
    kafka: { port: await freePort(), controllerPort: await freePort() },
    ...overrides,
  });
}

afterAll(async () => {
  await Promise.all(tempDirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

describe('the shared local stack', () => {
  it('reports every service up with its version, from live probes', async () => {
    // After `up --ha` the HA cluster is listed too; it has its own tests (ha/ha.int.test.ts).
    const statuses = (await stackStatus(stackOptions())).filter((status) => status.service !== 'ha');
    expect(statuses.map((status) => [status.service, status.state])).toEqual([
      ['timescaledb', 'up'],
      ['postgres', 'up'],
      ['redis', 'up'],
      ['kafka', 'up'],
    ]);
    expect(statuses.find((status) => status.service === 'timescaledb')?.version).toMatch(
      /^PostgreSQL \d+.*; TimescaleDB \d+\.\d+\.\d+$/,
    );
    expect(statuses.find((status) => status.service === 'postgres')?.version).toMatch(/^PostgreSQL \d+/);
    expect(statuses.find((status) => status.service === 'redis')?.version).toMatch(/^\d+\.\d+/);
    expect(statuses.find((status) => status.service === 'kafka')?.version).toMatch(/^\d+\.\d+\.\d+/);
  });
});

describe('the plain PostgreSQL', () => {
  it('reuses the server that answers and creates the configured database when it is missing', async () => {
    const database = `backbone_stack_${randomBytes(4).toString('hex')}`;
    const endpoint = { ...stackOptions().plainPostgres, database };
    expect(await probePostgres(endpoint)).toMatchObject({ state: 'up', databaseExists: false });
    try {
      // Reused, so nothing for `down` to stop.
      expect(await ensurePlainPostgres(endpoint, () => undefined)).toBeUndefined();
      expect(await probePostgres(endpoint)).toMatchObject({ state: 'up', databaseExists: true });
      // Idempotent.
      expect(await ensurePlainPostgres(endpoint, () => undefined)).toBeUndefined();
    } finally {
      const admin = new pg.Client({ ...endpoint, database: 'postgres' });
      await admin.connect();
      await admin.query(`drop database if exists "${database}"`);
      await admin.end();
    }
  });
});

describe('a private Kafka broker', () => {
  it(
    'starts detached, is reused by a second up, logs to its file, and is reported down after down',
    { timeout: 180_000 },
    async () => {
      const options = await privateOptions();
      const first = await stackUp(options);
      expect(first.find((status) => status.service === 'kafka')).toMatchObject({
        state: 'up',
        managedBy: 'backbone',
        version: '4.3.1',
      });
      // TimescaleDB, PostgreSQL and Redis answered already: reused, so not ours to stop.
      expect(
        first.filter((status) => status.managedBy === 'external').map((status) => status.service),
      ).toEqual(['timescaledb', 'postgres', 'redis']);
      const state = await readState(options.cacheDir);
      expect(state.kafka?.pid).toBeGreaterThan(0);

      // Idempotent: the second up finds the broker answering and starts nothing.
      await stackUp(options);
      expect((await readState(options.cacheDir)).kafka?.pid).toBe(state.kafka?.pid);
      // The log4j2 binding works: the broker writes its own log file.
      expect(await readFile(kafkaFiles(options.cacheDir).log, 'utf8')).toContain('Kafka Server started');

      expect(await stackDown(options)).toEqual(['kafka']);
      const after = await stackStatus(options);
      expect(after.find((status) => status.service === 'kafka')).toMatchObject({
        state: 'down',
        managedBy: 'external',
      });
      expect(after.find((status) => status.service === 'kafka')?.error).toBeTruthy();
      // down stopped only what up started.
      expect(after.filter((status) => status.state === 'up').map((status) => status.service)).toEqual([
        'timescaledb',
        'postgres',
        'redis',
      ]);
      expect((await probeKafka(options.kafka)).state).toBe('down');
    },
  );
});

describe('faults', () => {
  it('refuses a broker port held by something that is not Kafka, naming the port and the process', async () => {
    const squatter = await listen();
    try {
      const port = portOf(squatter);
      const options = await privateOptions({ kafka: { port, controllerPort: await freePort() } });
      const failure = ensureKafka(options);
      await expect(failure).rejects.toBeInstanceOf(PortInUseError);
      await expect(failure).rejects.toMatchObject({ port, holder: { pid: process.pid } });
      await expect(failure).rejects.toThrow(`port ${port} is taken by pid ${process.pid}`);
    } finally {
      await new Promise((resolve) => squatter.close(resolve));
    }
  });

  it('names Java and how to install it when java is missing', async () => {
    const options = await privateOptions({ commands: { java: '/nonexistent/java' } });
    const failure = ensureKafka(options);
    await expect(failure).rejects.toBeInstanceOf(MissingToolError);
    await expect(failure).rejects.toThrow(/Java 17\+.*apt-get install -y openjdk-17-jre-headless/);
  });

  it('names Maven and how to install it when the jars are missing and mvn is too', async () => {
    const cacheDir = await tempCacheDir();
    const options = await privateOptions({
      kafkaLibsDir: join(cacheDir, 'no-jars'),
      commands: { mvn: '/nonexistent/mvn' },
    });
    await expect(ensureKafka(options)).rejects.toThrow(/Maven .*apt-get install -y maven/);
  });

  it.each([
    { fault: 'java is missing', error: MissingToolError, squat: false },
    { fault: 'the broker port is held by something that is not Kafka', error: PortInUseError, squat: true },
  ])(
    'stops what a failing up started: a private redis-server is gone after Kafka cannot start ($fault)',
    async ({ error, squat }) => {
      const squatter = squat ? await listen() : undefined;
      try {
        const redisPort = await freePort();
        const options = await privateOptions({
          redis: { port: redisPort },
          ...(squatter
            ? { kafka: { port: portOf(squatter), controllerPort: await freePort() } }
            : { commands: { java: '/nonexistent/java' } }),
        });
        const logged: string[] = [];
        options.log = (message) => logged.push(message);

        await expect(stackUp(options)).rejects.toBeInstanceOf(error);
        expect(logged).toContain(`starting redis-server on 127.0.0.1:${redisPort}`);
        expect(logged).toContain('stopping redis, which this failed `up` started');
        expect(await isPortOpen('127.0.0.1', redisPort)).toBe(false);
        expect((await readState(options.cacheDir)).redis).toBeUndefined();
      } finally {
        if (squatter) await new Promise((resolve) => squatter.close(resolve));
      }
    },
  );

  it('reports Kafka down from a metadata request, whatever the state file and the open port say', async () => {
    // A live pid in the state file and an open port: a pid-file or port check would say "up".
    const squatter = await listen();
    try {
      const options = await privateOptions({
        kafka: { port: portOf(squatter), controllerPort: await freePort() },
      });
      await updateState(options.cacheDir, (state) => {
        state.kafka = {
          pid: process.pid,
          port: portOf(squatter),
          propertiesFile: kafkaFiles(options.cacheDir).properties,
          startedAt: new Date().toISOString(),
        };
      });
      const kafka = (await stackStatus(options)).find((status) => status.service === 'kafka');
      expect(kafka).toMatchObject({ state: 'down', managedBy: 'backbone', version: undefined });
      expect(kafka?.error).toBeTruthy();
    } finally {
      await new Promise((resolve) => squatter.close(resolve));
    }
  });

  it('turns any other failure of up into a StackError naming the service (a broker JVM that cannot start)', async () => {
    // An invalid heap size makes the storage-format JVM exit non-zero: not one of our own errors.
    const options = await privateOptions({ kafkaHeap: 'bogus' });
    const failure = stackUp(options);
    await expect(failure).rejects.toBeInstanceOf(ServiceStartError);
    await expect(failure).rejects.toMatchObject({ service: 'kafka' });
    await expect(failure).rejects.toThrow(
      /^kafka could not be brought up: java .* failed \(1\): Invalid maximum heap size: -Xmxbogus/,
    );
    expect((await readState(options.cacheDir)).kafka).toBeUndefined();
  });

  it('warns loudly when Redis may evict keys (maxmemory-policy is not noeviction)', async () => {
    const port = await freePort();
    const server = spawn(
      'redis-server',
      [
        '--bind',
        '127.0.0.1',
        '--port',
        String(port),
        '--save',
        '',
        '--appendonly',
        'no',
        '--maxmemory-policy',
        'allkeys-lru',
      ],
      { stdio: 'ignore' },
    );
    try {
      const options = await privateOptions({ redis: { port } });
      expect(await pollUntil(async () => (await probeRedis(options.redis)).state === 'up', 10_000, 50)).toBe(
        true,
      );
      const redis = (await stackStatus(options)).find((status) => status.service === 'redis');
      expect(redis?.state).toBe('up');
      expect(redis?.warnings).toEqual([
        expect.stringContaining('maxmemory-policy is allkeys-lru, not noeviction'),
      ]);
    } finally {
      server.kill('SIGTERM');
      await once(server, 'exit');
    }
  });

  it('finding 4.2: a redis-server it starts is bounded (the configured maxmemory) and never evicts (noeviction)', async () => {
    const options = await privateOptions({ redis: { port: await freePort() }, redisMaxmemory: '64mb' });
    const started = await ensureRedis(options.redis, {
      cacheDir: options.cacheDir,
      redisServer: options.commands.redisServer,
      maxmemory: options.redisMaxmemory,
      startTimeoutMs: 15_000,
      log: () => undefined,
    });
    if (started === undefined) throw new Error('a free port was answered by a Redis already');
    const client = new Redis({ host: options.redis.host, port: options.redis.port, lazyConnect: true });
    try {
      await client.connect();
      expect(await client.config('GET', 'maxmemory')).toEqual(['maxmemory', String(64 * 1024 * 1024)]);
      expect(await client.config('GET', 'maxmemory-policy')).toEqual(['maxmemory-policy', 'noeviction']);
    } finally {
      client.disconnect();
      await stopRedis(started);
    }
  });

  it('finding 4.2: a reused local Redis without maxmemory gets the configured bound; one with a bound keeps it', async () => {
    const startServer = (port: number, maxmemory: string) =>
      spawn(
        'redis-server',
        [
          '--bind',
          '127.0.0.1',
          '--port',
          String(port),
          '--save',
          '',
          '--appendonly',
          'no',
          '--maxmemory',
          maxmemory,
        ],
        { stdio: 'ignore' },
      );
    const unboundedPort = await freePort();
    const boundedPort = await freePort();
    const servers = [startServer(unboundedPort, '0'), startServer(boundedPort, '32mb')];
    const clients: Redis[] = [];
    try {
      const logged: string[] = [];
      for (const port of [unboundedPort, boundedPort]) {
        const options = await privateOptions({ redis: { port }, redisMaxmemory: '64mb' });
        expect(
          await pollUntil(async () => (await probeRedis(options.redis)).state === 'up', 10_000, 50),
        ).toBe(true);
        const started = await ensureRedis(options.redis, {
          cacheDir: options.cacheDir,
          redisServer: options.commands.redisServer,
          maxmemory: options.redisMaxmemory,
          startTimeoutMs: 15_000,
          log: (message) => logged.push(message),
        });
        expect(started).toBeUndefined(); // reused, not started
        const client = new Redis({ host: '127.0.0.1', port, lazyConnect: true });
        clients.push(client);
        await client.connect();
      }
      const [unbounded, bounded] = clients;
      expect(await unbounded?.config('GET', 'maxmemory')).toEqual(['maxmemory', String(64 * 1024 * 1024)]);
      expect(await bounded?.config('GET', 'maxmemory')).toEqual(['maxmemory', String(32 * 1024 * 1024)]);
      expect(logged).toEqual([
        expect.stringContaining(`127.0.0.1:${unboundedPort} had no maxmemory (unbounded); set to 64mb`),
      ]);
    } finally {
      for (const client of clients) client.disconnect();
      for (const server of servers) {
        server.kill('SIGTERM');
        await once(server, 'exit');
      }
    }
  });

  it('names the user and the fix when PostgreSQL answers but refuses the connection', async () => {
    const user = `no_such_role_${randomBytes(4).toString('hex')}`;
    const failure = ensurePlainPostgres({ ...stackOptions().plainPostgres, user }, () => undefined);
    await expect(failure).rejects.toBeInstanceOf(ServiceStartError);
    await expect(failure).rejects.toThrow(`answers but refused user ${user}`);
    await expect(failure).rejects.toThrow(/pg_hba\.conf/);
  });

  it('explains what to do when nothing answers on the PostgreSQL port and no cluster can be started there', async () => {
    const port = await freePort();
    const failure = ensurePlainPostgres({ ...stackOptions().plainPostgres, port }, () => undefined);
    await expect(failure).rejects.toBeInstanceOf(ServiceStartError);
    await expect(failure).rejects.toThrow(`nothing answers at 127.0.0.1:${port}`);
  });
});
