import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { TOPIC_NAMES, topicName } from '@backbone/config';
import { createKafkajsClient } from '@backbone/kafka';
import { findPortHolder } from '@backbone/telemetry';
import {
  createTestDatabase,
  createTestKeyNamespace,
  freePort,
  testEndpoints,
  uniqueName,
  waitFor,
  type TestDatabase,
  type TestResource,
} from '@backbone/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backbone, jsonLines, ROOT } from '../e2e/processes.ts';

/** Worker process name → its key under `workers.` in the config. */
const WORKERS = [
  ['stream-bridge', 'streamBridge'],
  ['timescale-ingestor', 'timescaleIngestor'],
  ['cache-warmer', 'cacheWarmer'],
  ['readiness-reporter', 'readinessReporter'],
] as const;

/** A file of /proc/<pid>/, undefined once the process is gone. */
function readProc(pid: number, file: 'status' | 'wchan'): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/${file}`, 'utf8');
  } catch {
    return undefined;
  }
}

/** The `State:` line of /proc/<pid>/status (e.g. `S (sleeping)`), undefined once the pid is gone. */
function processState(pid: number): string | undefined {
  return /^State:\s*(.+)$/m.exec(readProc(pid, 'status') ?? '')?.[1];
}

/** A zombie (exited, not yet reaped by whoever inherited it) has released its port: not running. */
function isRunning(pid: number): boolean {
  const state = processState(pid);
  return state !== undefined && !state.startsWith('Z');
}

/** What a worker that will not exit is doing: its state and the kernel function it waits in. */
function describeProcess(pid: number): string {
  return `pid ${pid}: state ${processState(pid) ?? 'gone'}, waiting in ${readProc(pid, 'wchan') ?? '?'}`;
}

/**
 * `./backbone start` (what `npm start` runs) against a database, a Redis key namespace, a Kafka
 * namespace and four ports of its own; the workers are found as the processes listening on
 * those ports. (That each shuts down in order, deleting its heartbeat, is shown for one process in
 * libs/supervisor/src/process.int.test.ts.)
 */
describe('./backbone start: workers do not outlive the launcher', { timeout: 300_000 }, () => {
  const { redisUrl, kafkaBrokers } = testEndpoints();
  const env = { PATH: '/usr/bin:/bin', KAFKA_BROKERS: kafkaBrokers.join(',') };
  const kafkaNamespace = `${uniqueName('life_start')}.`;
  const ports = new Map<string, number>();
  let database: TestDatabase | undefined;
  let namespace: ({ prefix: string } & TestResource) | undefined;
  let args: string[] = [];
  /** Every worker pid seen, so that none is left behind whatever the test's outcome. */
  const workerPids = new Set<number>();

  beforeAll(async () => {
    database = await createTestDatabase('life_start');
    namespace = createTestKeyNamespace(redisUrl, 'life_start');
    for (const [, key] of WORKERS) ports.set(key, await freePort());
    args = [
      ['database.url', database.url],
      ['redis.url', redisUrl],
      ['redis.keyNamespace', namespace.prefix],
      ['kafka.namespace', kafkaNamespace],
      ['supervisor.heartbeatIntervalMs', '1000'],
      ...WORKERS.map(([, key]) => [`workers.${key}.port`, String(ports.get(key))]),
    ].flatMap(([path, value]) => ['--set', `${path}=${value}`]);
  });

  afterAll(async () => {
    for (const pid of workerPids) if (isRunning(pid)) process.kill(pid, 'SIGKILL');
    const admin = createKafkajsClient({ brokers: kafkaBrokers, clientId: 'life-start-test' }).admin();
    await admin.connect();
    const ours = TOPIC_NAMES.map((name) => topicName({ namespace: kafkaNamespace }, name));
    const existing = new Set(await admin.listTopics());
    await admin.deleteTopics(ours.filter((topic) => existing.has(topic))).finally(() => admin.close());
    await namespace?.drop();
    await database?.drop();
  }, 120_000);

  it('finding 4.5: SIGKILL of the launcher ends every worker and frees its port; a second copy on a held port names the holder', async () => {
    const launcher = spawn(`${ROOT}/backbone`, ['start', '--no-feed', '--no-fixtures', ...args], {
      cwd: ROOT,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    launcher.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    launcher.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    const launcherExited = once(launcher, 'exit');
    try {
      // Every worker listens on its port.
      await waitFor(
        async () => {
          const holders = await Promise.all([...ports.values()].map((port) => findPortHolder(port)));
          for (const holder of holders) if (holder !== undefined) workerPids.add(holder.pid);
          return holders.every((holder) => holder !== undefined);
        },
        {
          timeoutMs: 240_000,
          intervalMs: 500,
          description: 'four workers live and listening',
        },
      ).catch((error: unknown) => {
        throw new Error(`${String(error)}; launcher output: ${output.slice(-3000)}`);
      });

      // The case: the reporter's port is taken by a running reporter. A second one exits 1
      // at once, naming the port and the process holding it, a backbone worker.
      const reporterPort = ports.get('readinessReporter') as number;
      const holder = await findPortHolder(reporterPort);
      expect(holder?.worker).toBe('readiness-reporter');
      const second = await backbone(['serve', 'readiness-reporter', ...args], env, 60_000);
      expect(second.code).toBe(1);
      const failed = jsonLines(second.stdout + second.stderr).find(
        (line) => line.msg === 'process start-up failed',
      );
      expect(failed, second.stdout + second.stderr).toMatchObject({
        err: {
          name: 'PortInUseError',
          message: expect.stringContaining(
            `port ${reporterPort} on 127.0.0.1 is already in use by pid ${holder?.pid} (the backbone readiness-reporter worker`,
          ) as unknown,
        },
      });

      expect(workerPids.size).toBe(WORKERS.length);
      launcher.kill('SIGKILL');
      await launcherExited;
      for (const pid of workerPids) {
        await waitFor(() => !isRunning(pid), {
          timeoutMs: 60_000,
          description: () =>
            `worker ${describeProcess(pid)} to exit after the launcher was SIGKILLed; launcher output: ${output.slice(-3000)}`,
        });
      }
      for (const [key, port] of ports) {
        expect(await findPortHolder(port), `workers.${key}.port ${port} is free`).toBeUndefined();
      }
    } finally {
      if (launcher.exitCode === null && launcher.signalCode === null) launcher.kill('SIGKILL');
    }
  });
});
