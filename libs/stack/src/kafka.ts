import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, openSync } from 'node:fs';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { MissingToolError, PortInUseError, ServiceStartError } from './errors.ts';
import { isLocalHost, type KafkaEndpoint, type StackOptions } from './options.ts';
import {
  CommandFailedError,
  commandLine,
  findListener,
  isAlive,
  isPortOpen,
  pollUntil,
  run,
  tail,
  terminate,
  terminateIfCommand,
} from './process.ts';
import type { StackState } from './state.ts';

export type KafkaProbe =
  { state: 'up'; version: string; clusterId: string; brokers: number } | { state: 'down'; error: Error };

const kafkaJar = /kafka_2\.13-(\d+\.\d+\.\d+)\.jar/;

/**
 * Asks the broker itself: a metadata request (kafkajs `describeCluster`), never a pid file. The
 * version comes from the listening process's classpath when it is a local JVM (the Kafka protocol
 * does not carry the broker's release).
 *
 * @example const probe = await probeKafka({ host: '127.0.0.1', port: 9092, controllerPort: 9093 });
 */
export async function probeKafka(endpoint: KafkaEndpoint): Promise<KafkaProbe> {
  const kafka = new Kafka({
    clientId: 'backbone-stack-probe',
    brokers: [`${endpoint.host}:${endpoint.port}`],
    connectionTimeout: 1_500,
    requestTimeout: 3_000,
    retry: { retries: 0 },
    logLevel: logLevel.NOTHING,
  });
  const admin = kafka.admin({ retry: { retries: 0 } });
  try {
    await admin.connect();
    const cluster = await admin.describeCluster();
    const version = isLocalHost(endpoint.host) ? await localBrokerVersion(endpoint.port) : undefined;
    return {
      state: 'up',
      version: version ?? 'unknown (answers metadata requests)',
      clusterId: cluster.clusterId,
      brokers: cluster.brokers.length,
    };
  } catch (error) {
    return { state: 'down', error: error as Error };
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

/** The Kafka release of the JVM listening on `port`: from a kafka_2.13-X.jar on its classpath. */
async function localBrokerVersion(port: number): Promise<string | undefined> {
  const listener = await findListener(port);
  if (!listener) return undefined;
  const command = (await commandLine(listener.pid)) ?? '';
  const direct = kafkaJar.exec(command)?.[1];
  if (direct) return direct;
  const classpath = /(?:-cp|-classpath)\s+(\S+)/.exec(command)?.[1] ?? '';
  for (const entry of classpath.split(':')) {
    if (!entry.endsWith('*')) continue;
    const version = await jarVersion(dirname(entry));
    if (version) return version;
  }
  return undefined;
}

async function jarVersion(libsDir: string): Promise<string | undefined> {
  const files = await readdir(libsDir).catch(() => []);
  for (const file of files) {
    const version = kafkaJar.exec(file)?.[1];
    if (version) return version;
  }
  return undefined;
}

/** Java 17 or newer, which Kafka 4 requires. */
async function checkJava(java: string): Promise<void> {
  const install = 'sudo apt-get install -y openjdk-17-jre-headless';
  let output: string;
  try {
    const result = await run(java, ['-version']);
    output = result.stderr + result.stdout;
  } catch (error) {
    throw new MissingToolError('kafka', `Java 17+ (${java})`, install, { cause: error });
  }
  const version = /version "(\d+)(?:\.(\d+))?/.exec(output);
  const major = version?.[1] === '1' ? Number(version[2]) : Number(version?.[1]);
  if (!(major >= 17)) {
    throw new MissingToolError(
      'kafka',
      `Java 17+ (${java} is ${version?.[0] ?? 'of unknown version'})`,
      install,
    );
  }
}

/**
 * The broker's jars in `libsDir`, resolved by Maven from tools/kafka/pom.xml. Maven runs only when
 * the jars are missing or the pom changed since they were resolved (a hash of the pom is kept next
 * to them), so `up` stays quick once the jars are there.
 */
async function ensureJars(options: StackOptions): Promise<void> {
  const pom = join(options.rootDir, 'tools', 'kafka', 'pom.xml');
  const pomHash = createHash('sha256')
    .update(await readFile(pom))
    .digest('hex');
  const marker = join(options.kafkaLibsDir, '.resolved');
  const resolved = (await readFile(marker, 'utf8').catch(() => '')).trim();
  if (resolved === pomHash && (await jarVersion(options.kafkaLibsDir))) return;

  const mvn = options.commands.mvn;
  try {
    await run(mvn, ['-v']);
  } catch (error) {
    throw new MissingToolError(
      'kafka',
      `Maven (${mvn}), to fetch the Kafka jars,`,
      'sudo apt-get install -y maven',
      { cause: error },
    );
  }
  options.log(`fetching the Apache Kafka jars with Maven into ${options.kafkaLibsDir} (once; about 20-40 s)`);
  await mkdir(options.kafkaLibsDir, { recursive: true });
  try {
    await run(
      mvn,
      [
        '-B',
        '-q',
        '-f',
        pom,
        'dependency:copy-dependencies',
        '-DincludeScope=runtime',
        `-DoutputDirectory=${options.kafkaLibsDir}`,
      ],
      { timeoutMs: 15 * 60_000 },
    );
  } catch (error) {
    const detail =
      error instanceof CommandFailedError
        ? error.stderr.trim().split('\n').slice(-10).join('\n')
        : String(error);
    throw new ServiceStartError(
      'kafka',
      `Maven could not fetch the Kafka jars (is Maven Central reachable?):\n${detail}`,
      { cause: error },
    );
  }
  await writeFile(marker, `${pomHash}\n`);
}

/**
 * What `kafka-storage.sh random-uuid` prints (a Kafka Uuid: 16 random bytes, base64url without
 * padding, never starting with "-"), made here to save a JVM start (seconds on a busy machine).
 */
function randomClusterId(): string {
  for (;;) {
    const id = randomBytes(16).toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}

function serverProperties(endpoint: KafkaEndpoint, dataDir: string): string {
  const { host, port, controllerPort } = endpoint;
  return [
    '# Generated by `./backbone stack up` (libs/stack/src/kafka.ts); edits are overwritten.',
    '# One node in KRaft combined mode: broker and controller in one JVM.',
    'process.roles=broker,controller',
    'node.id=1',
    `controller.quorum.bootstrap.servers=${host}:${controllerPort}`,
    `listeners=PLAINTEXT://${host}:${port},CONTROLLER://${host}:${controllerPort}`,
    `advertised.listeners=PLAINTEXT://${host}:${port}`,
    'controller.listener.names=CONTROLLER',
    'inter.broker.listener.name=PLAINTEXT',
    'listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
    `log.dirs=${dataDir}`,
    'num.partitions=1',
    // A single node cannot hold more than one replica of the internal topics.
    'offsets.topic.replication.factor=1',
    'transaction.state.log.replication.factor=1',
    'transaction.state.log.min.isr=1',
    'share.coordinator.state.topic.replication.factor=1',
    'share.coordinator.state.topic.min.isr=1',
    // Tests join and leave consumer groups constantly; the default 3 s delay would slow every one.
    'group.initial.rebalance.delay.ms=0',
    '',
  ].join('\n');
}

function jvmArgs(options: StackOptions, logFile: string): string[] {
  return [
    `-Xmx${options.kafkaHeap}`,
    '-XX:+UseG1GC',
    '-Djava.awt.headless=true',
    `-Dlog4j2.configurationFile=${join(options.rootDir, 'tools', 'kafka', 'log4j2.xml')}`,
    `-Dkafka.log.file=${logFile}`,
    '-cp',
    `${options.kafkaLibsDir}/*`,
  ];
}

/** Files of one broker under `<cacheDir>/kafka/`. */
export function kafkaFiles(cacheDir: string): {
  dir: string;
  dataDir: string;
  properties: string;
  log: string;
  out: string;
  pid: string;
} {
  const dir = join(cacheDir, 'kafka');
  return {
    dir,
    dataDir: join(dir, 'data'),
    properties: join(dir, 'server.properties'),
    log: join(dir, 'broker.log'),
    out: join(dir, 'broker.out'),
    pid: join(dir, 'broker.pid'),
  };
}

/**
 * Makes an Apache Kafka broker answer on the endpoint: reuses one that answers metadata requests,
 * otherwise fetches the jars (once), formats the storage (once) and starts `kafka.Kafka` detached,
 * so it outlives the CLI, then waits until it answers. Returns what it started, or undefined when
 * it reused a running broker.
 */
export async function ensureKafka(options: StackOptions): Promise<StackState['kafka']> {
  const endpoint = options.kafka;
  const where = `${endpoint.host}:${endpoint.port}`;
  if ((await probeKafka(endpoint)).state === 'up') return undefined;
  if (!isLocalHost(endpoint.host)) {
    throw new ServiceStartError(
      'kafka',
      `no Kafka broker answers at ${where} and it is not on this machine; start it there or point the brokers elsewhere`,
    );
  }
  if (await isPortOpen(endpoint.host, endpoint.port)) {
    throw new PortInUseError(
      'kafka',
      endpoint.port,
      await findListener(endpoint.port),
      'it does not answer as a Kafka broker',
    );
  }
  if (await isPortOpen(endpoint.host, endpoint.controllerPort)) {
    throw new PortInUseError(
      'kafka',
      endpoint.controllerPort,
      await findListener(endpoint.controllerPort),
      'the KRaft controller needs it',
    );
  }
  await checkJava(options.commands.java);
  await ensureJars(options);

  const files = kafkaFiles(options.cacheDir);
  await mkdir(files.dataDir, { recursive: true });
  await writeFile(files.properties, serverProperties(endpoint, files.dataDir));
  const java = options.commands.java;
  const formatted = await stat(join(files.dataDir, 'meta.properties')).then(
    () => true,
    () => false,
  );
  if (!formatted) {
    options.log(`formatting Kafka storage in ${files.dataDir}`);
    const clusterId = randomClusterId();
    await run(java, [
      ...jvmArgs(options, files.log),
      'kafka.tools.StorageTool',
      'format',
      '-t',
      clusterId,
      '-c',
      files.properties,
      '--standalone',
    ]);
  }

  options.log(
    `starting Apache Kafka ${(await jarVersion(options.kafkaLibsDir)) ?? ''} on ${where} (controller ${endpoint.host}:${endpoint.controllerPort})`,
  );
  const out = openSync(files.out, 'a');
  const child = spawn(java, [...jvmArgs(options, files.log), 'kafka.Kafka', files.properties], {
    cwd: files.dir,
    // Its own process group and no pipes to us: the broker keeps running after the CLI exits.
    detached: true,
    stdio: ['ignore', out, out],
  });
  closeSync(out);
  let exitCode: number | null | undefined;
  child.once('exit', (code) => {
    exitCode = code;
  });
  child.unref();
  const pid = child.pid;
  if (pid === undefined) throw new ServiceStartError('kafka', `could not start ${java}`);
  await writeFile(files.pid, `${pid}\n`);

  const answered = await pollUntil(
    async () => exitCode !== undefined || (await probeKafka(endpoint)).state === 'up',
    options.startTimeoutMs,
    250,
  );
  if (!answered || exitCode !== undefined) {
    if (isAlive(pid)) await terminate(pid, 10_000);
    const why =
      exitCode !== undefined
        ? `exited with code ${String(exitCode)}`
        : `did not answer a metadata request within ${options.startTimeoutMs} ms`;
    throw new ServiceStartError(
      'kafka',
      `the Kafka broker ${why}. Last lines of ${files.log}:\n${await tail(files.log, 25)}\n${await tail(files.out, 10)}`,
    );
  }
  return { pid, port: endpoint.port, propertiesFile: files.properties, startedAt: new Date().toISOString() };
}

/** Stops a broker that `up` started; a controlled shutdown takes a few seconds. */
export async function stopKafka(started: NonNullable<StackState['kafka']>): Promise<void> {
  await terminateIfCommand(started.pid, started.propertiesFile, 60_000);
}
