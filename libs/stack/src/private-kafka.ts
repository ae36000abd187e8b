import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './free-port.ts';
import { ensureKafka, stopKafka } from './kafka.ts';
import { stackOptions, type StackOptions } from './options.ts';
import type { StackState } from './state.ts';

/**
 * A Kafka broker of its owner's own, on free ports with a temporary storage folder, so a test or a
 * failover drill can stop and start it without touching the shared broker on 127.0.0.1:9092 (other
 * processes use that one concurrently). The jars are the shared ones under .cache/kafka/libs.
 */
export interface PrivateKafka {
  /** `host:port` for clients; stays the same across `stop()` / `start()`. */
  readonly brokers: string[];
  /** True between a successful `start()` and the next `stop()`. */
  readonly running: boolean;
  /** Starts the broker (again) on the same ports and storage; resolves once it answers metadata requests. */
  start(): Promise<void>;
  /** Controlled shutdown of the broker; resolves once its process is gone. */
  stop(): Promise<void>;
  /** Stops the broker if it runs and deletes its storage. */
  dispose(): Promise<void>;
}

export interface PrivateKafkaOptions {
  /** Names the temporary storage folder (`<tmp>/backbone-<purpose>-kafka-…`), so a leftover one says whose it was. */
  purpose: string;
  /** Progress lines ("starting Apache Kafka …"). */
  log?: (message: string) => void;
}

/**
 * Starts a private single-node KRaft broker (tens of seconds on a busy machine: a JVM start).
 *
 * @example const broker = await startPrivateKafka({ purpose: 'stream-test' }); await broker.stop(); await broker.start(); await broker.dispose();
 */
export async function startPrivateKafka(input: PrivateKafkaOptions): Promise<PrivateKafka> {
  const cacheDir = await mkdtemp(
    join(tmpdir(), `backbone-${input.purpose}-kafka-${randomBytes(3).toString('hex')}-`),
  );
  const options: StackOptions = stackOptions({
    cacheDir,
    kafkaLibsDir: stackOptions().kafkaLibsDir,
    kafka: { port: await freePort(), controllerPort: await freePort() },
    ...(input.log === undefined ? {} : { log: input.log }),
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
    get running() {
      return running !== undefined;
    },
    start,
    stop,
    async dispose() {
      await stop();
      await rm(cacheDir, { recursive: true, force: true });
    },
  };
}
