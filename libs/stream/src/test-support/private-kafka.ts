import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureKafka, stopKafka, stackOptions, type StackOptions, type StackState } from '@backbone/stack';

/**
 * A Kafka broker of one test file's own, on free ports with a temporary storage folder, so a test
 * can stop and start it without touching the shared broker on 127.0.0.1:9092 (other test files
 * use that one concurrently). The jars are the shared ones under .cache/kafka/libs.
 */
export interface PrivateKafka {
  /** `host:port` for clients; stays the same across `stop()` / `start()`. */
  readonly brokers: string[];
  /** Starts the broker (again) on the same ports and storage; resolves once it answers metadata requests. */
  start(): Promise<void>;
  /** Controlled shutdown of the broker; resolves once its process is gone. */
  stop(): Promise<void>;
  /** Stops the broker if it runs and deletes its storage. */
  dispose(): Promise<void>;
}

/** Starts a private single-node KRaft broker (tens of seconds on a busy machine: a JVM start). */
export async function startPrivateKafka(): Promise<PrivateKafka> {
  const cacheDir = await mkdtemp(join(tmpdir(), `backbone-stream-kafka-${randomBytes(3).toString('hex')}-`));
  const options: StackOptions = stackOptions({
    cacheDir,
    kafkaLibsDir: stackOptions().kafkaLibsDir,
    kafka: { port: await freePort(), controllerPort: await freePort() },
  });
  let running: NonNullable<StackState['kafka']> | undefined;
  const start = async (): Promise<void> => {
    const started = await ensureKafka(options);
    // undefined means something already answered on our port: not a broker we could stop.
    if (started === undefined)
      throw new Error(`a broker already answers on private port ${options.kafka.port}`);
    running = started;
  };
  const stop = async (): Promise<void> => {
    if (running === undefined) return;
    await stopKafka(running);
    running = undefined;
  };
  try {
    await start();
  } catch (error) {
    await rm(cacheDir, { recursive: true, force: true });
    throw error;
  }
  return {
    brokers: [`${options.kafka.host}:${options.kafka.port}`],
    start,
    stop,
    async dispose() {
      await stop();
      await rm(cacheDir, { recursive: true, force: true });
    },
  };
}

/** A port nothing listens on right now (the kernel picks it; the socket is closed again). */
async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        if (address === null || typeof address === 'string') reject(new Error('not a TCP server'));
        else resolve(address.port);
      });
    });
    server.once('error', reject);
  });
}
