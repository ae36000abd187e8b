import { readFileSync } from 'node:fs';
import { redactText } from '@backbone/config';
// Only names Node's CommonJS export detection finds in kafkajs's index.js may be imported as
// values (Kafka, Partitioners, logLevel); the others (ConfigSource, KafkaJSError, …) are absent at
// runtime under native ESM, although the type declarations list them.
import {
  Kafka,
  logLevel as kafkajsLogLevel,
  Partitioners,
  type Admin,
  type ConfigResourceTypes,
  type Consumer,
  type EachBatchPayload,
  type IHeaders,
  type KafkaConfig,
  type KafkaMessage as KafkajsMessage,
  type Message,
  type Producer,
  type RecordMetadata,
  type SASLOptions,
} from 'kafkajs';
import { KafkaClientError } from '../kafka-client-error.ts';
import { partitionKey } from '../lag.ts';
import { silentKafkaLogger, type KafkaLogger } from '../logger.ts';
import type {
  AdminPort,
  AssignmentDecision,
  ClusterDescription,
  ConsumedMessage,
  ConsumerOptions,
  ConsumerPort,
  ConsumerRunOptions,
  KafkaClient,
  NewTopic,
  OutgoingMessage,
  PartitionOffsets,
  ProduceAck,
  ProducerOptions,
  ProducerPort,
  TopicConfigEntry,
  TopicMessages,
  TopicMetadata,
  TopicPartition,
  TopicPartitionOffset,
  TopicPartitions,
} from '../port.ts';
import { kafkajsLogCreator } from './logging.ts';

/**
 * Connection settings; structurally the `kafka` section of SystemConfig, so `config.kafka` can be
 * passed as is.
 */
export interface KafkajsClientOptions {
  readonly brokers: readonly string[];
  readonly clientId: string;
  readonly sasl?:
    | {
        readonly mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512';
        readonly username: string;
        readonly password: string;
      }
    | undefined;
  readonly ssl?:
    | {
        readonly enabled: boolean;
        readonly rejectUnauthorized?: boolean | undefined;
        /** Path to a PEM CA bundle; absent means the system CAs. */
        readonly ca?: string | undefined;
      }
    | undefined;
  /** Receives kafkajs's own log lines, redacted. Default: dropped. */
  readonly logger?: KafkaLogger | undefined;
  /** Most verbose kafkajs level forwarded (default `info`). */
  readonly logLevel?: 'error' | 'warn' | 'info' | 'debug' | undefined;
  /**
   * How hard a call tries before it fails (default kafkajs's: 5 retries within 30 s). Callers
   * with a deadline of their own (readiness probes) keep it short, so a call they gave up on
   * does not go on retrying, and reconnecting, after they closed the client.
   */
  readonly retry?:
    | {
        readonly retries: number;
        readonly initialRetryTimeMs: number;
        readonly maxRetryTimeMs: number;
      }
    | undefined;
  /** Limit of one connection attempt and of one request (default kafkajs's: 1 s and 30 s). */
  readonly connectionTimeoutMs?: number | undefined;
  readonly requestTimeoutMs?: number | undefined;
}

/** Kafka protocol numbers (DescribeConfigs/AlterConfigs): resource type TOPIC, config source TOPIC_CONFIG. */
// eslint-disable-next-line @typescript-eslint/no-unsafe-enum-assignment -- the enum is not importable at runtime (see above)
const TOPIC_RESOURCE = 2 as ConfigResourceTypes.TOPIC;
const TOPIC_CONFIG_SOURCE = 1;

const LOG_LEVELS = {
  error: kafkajsLogLevel.ERROR,
  warn: kafkajsLogLevel.WARN,
  info: kafkajsLogLevel.INFO,
  debug: kafkajsLogLevel.DEBUG,
} as const;

/** kafkajs's numeric `acks` for "every in-sync replica". */
const ACKS_ALL = -1;

/**
 * The kafkajs adapter of our port.
 *
 * @example
 * const kafka = createKafkajsClient({ ...config.kafka, logger });
 * const producer = kafka.producer();
 * await producer.connect();
 */
export function createKafkajsClient(options: KafkajsClientOptions): KafkaClient {
  const kafka = new Kafka(kafkajsConfig(options));
  return {
    producer: (producerOptions = {}) =>
      new KafkajsProducer(kafka, producerOptions, options.logger ?? silentKafkaLogger),
    consumer: (consumerOptions) =>
      new KafkajsConsumer(kafka, consumerOptions, options.logger ?? silentKafkaLogger),
    admin: () => new KafkajsAdmin(kafka),
  };
}

function kafkajsConfig(options: KafkajsClientOptions): KafkaConfig {
  const config: KafkaConfig = {
    brokers: [...options.brokers],
    clientId: options.clientId,
    logLevel: LOG_LEVELS[options.logLevel ?? 'info'],
    logCreator: kafkajsLogCreator(options.logger ?? silentKafkaLogger),
    ...(options.retry === undefined
      ? {}
      : {
          retry: {
            retries: options.retry.retries,
            initialRetryTime: options.retry.initialRetryTimeMs,
            maxRetryTime: options.retry.maxRetryTimeMs,
          },
        }),
    ...(options.connectionTimeoutMs === undefined ? {} : { connectionTimeout: options.connectionTimeoutMs }),
    ...(options.requestTimeoutMs === undefined ? {} : { requestTimeout: options.requestTimeoutMs }),
  };
  if (options.ssl?.enabled === true) {
    config.ssl = {
      rejectUnauthorized: options.ssl.rejectUnauthorized ?? true,
      ...(options.ssl.ca === undefined ? {} : { ca: [readFileSync(options.ssl.ca, 'utf8')] }),
    };
  }
  if (options.sasl !== undefined) {
    const { mechanism, username, password } = options.sasl;
    config.sasl = { mechanism, username, password } as SASLOptions;
  }
  return config;
}

/** Runs a kafkajs call; its failure becomes a KafkaClientError with a redacted message. */
async function call<T>(operation: string, topic: string | undefined, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    throw toClientError(operation, topic, error);
  }
}

function toClientError(operation: string, topic: string | undefined, error: unknown): KafkaClientError {
  if (error instanceof KafkaClientError) return error;
  const reason = error instanceof Error ? redactText(describeError(error)) : 'unknown error';
  return new KafkaClientError(`${operation}${topic === undefined ? '' : ` (${topic})`} failed: ${reason}`, {
    operation,
    topic,
    retriable: isRetriable(error),
    code: brokerErrorCode(error),
    cause: error,
  });
}

/** The broker's error code (kafkajs `type`), looked up through the retriers' wrapping causes. */
function brokerErrorCode(error: unknown): string | undefined {
  for (let current = error; current instanceof Error; current = current.cause) {
    const type = (current as Error & { type?: unknown }).type;
    if (typeof type === 'string') return type;
  }
  return undefined;
}

/**
 * Whether the same call may succeed later. kafkajs errors carry `retriable`; anything else (our
 * own checks, bugs) is not worth retrying. When kafkajs has used up its own retries it throws a
 * non-retriable `KafkaJSNumberOfRetriesExceeded` whatever the cause, so the cause decides: a broker
 * that stayed away (connection refused, timeouts, no leader yet) may be back later, but a topic
 * that is still unknown after every retry does not exist (auto-creation is off on purpose).
 */
function isRetriable(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  if (error.name === 'KafkaJSNumberOfRetriesExceeded') {
    const cause = error.cause;
    return (
      cause instanceof Error &&
      (cause as Error & { type?: unknown }).type !== 'UNKNOWN_TOPIC_OR_PARTITION' &&
      isRetriable(cause)
    );
  }
  return (error as Error & { retriable?: unknown }).retriable === true;
}

/** kafkajs aggregates per-topic failures (e.g. CreateTopics) under a generic message. */
function describeError(error: Error): string {
  const nested = (error as Error & { errors?: unknown }).errors;
  if (!Array.isArray(nested) || nested.length === 0) return error.message;
  const details = nested.map((inner: unknown) => (inner instanceof Error ? inner.message : String(inner)));
  return `${error.message}: ${details.join('; ')}`;
}

/** Shares one close between every caller, so close() is idempotent and concurrent-safe. */
function once(run: () => Promise<void>): () => Promise<void> {
  let closing: Promise<void> | undefined;
  return () => (closing ??= run());
}

/**
 * Protocol errors after which an idempotent producer's identity (producer id, epoch, sequence
 * numbers) is unusable: kafkajs keeps the same id, rolls the failed sequence back and sends it
 * again, so every later send to that partition fails the same way. The broker rejected the
 * failing partition's records: nothing of that batch was appended.
 */
const FATAL_PRODUCER_ERRORS: ReadonlySet<string> = new Set([
  'OUT_OF_ORDER_SEQUENCE_NUMBER',
  'INVALID_PRODUCER_EPOCH',
  'INVALID_PRODUCER_ID_MAPPING',
  'UNKNOWN_PRODUCER_ID',
  'PRODUCER_FENCED',
]);

/**
 * How a send found its kafkajs producer broken for good: `disconnected` (it refuses every send
 * before anything goes on the wire) or `fenced` (a fatal sequence/epoch error); `undefined` for
 * every other failure, which kafkajs's own retries (same producer id and sequence, de-duplicated
 * by the broker) already covered.
 */
export function producerBreakage(error: unknown): 'disconnected' | 'fenced' | undefined {
  for (let current: unknown = error; current instanceof Error; current = current.cause) {
    if (
      current.message === 'The producer is disconnected' ||
      current.message.startsWith('The producer is disconnecting')
    )
      return 'disconnected';
    const type = (current as Error & { type?: unknown }).type;
    if (typeof type === 'string' && FATAL_PRODUCER_ERRORS.has(type)) return 'fenced';
    if (current.cause === current) break;
  }
  return undefined;
}

/** Every record of the call goes to one partition: one topic, one explicit partition or one key. */
function toOnePartition(topicMessages: readonly { topic: string; messages: readonly Message[] }[]): boolean {
  const [only, ...others] = topicMessages;
  if (only === undefined || others.length > 0) return true;
  const [first] = only.messages;
  if (first === undefined) return true;
  if (first.partition !== undefined) return only.messages.every((m) => m.partition === first.partition);
  const key = first.key;
  return (
    key !== null &&
    key !== undefined &&
    only.messages.every(
      (m) =>
        m.partition === undefined &&
        m.key !== null &&
        m.key !== undefined &&
        Buffer.from(m.key).equals(Buffer.from(key)),
    )
  );
}

export class KafkajsProducer implements ProducerPort {
  #producer: Producer;
  /** Settles once the producer that replaced a broken one is connected. */
  #renewal: Promise<void> = Promise.resolve();
  #closed = false;
  readonly #create: () => Producer;
  readonly #maxMessageBytes: number | undefined;
  readonly #logger: KafkaLogger;
  readonly close: () => Promise<void>;

  constructor(
    kafka: Kafka,
    options: ProducerOptions,
    logger: KafkaLogger,
    /** Sees every kafkajs producer made (the first one and each replacement): for tests. */
    onCreate: (producer: Producer) => void = () => undefined,
  ) {
    this.#create = () => {
      // Idempotence needs acks=all and unlimited retries (kafkajs's default when idempotent).
      // kafkajs assigns sequence numbers per partition at send time and serialises idempotent
      // requests per broker; one request in flight per connection keeps a retried request from
      // overtaking a later one (kafkajs, unlike the Java client, cannot re-order them).
      const producer = kafka.producer({
        idempotent: true,
        maxInFlightRequests: 1,
        allowAutoTopicCreation: false,
        // Explicit, so kafkajs does not warn about the v2 default-partitioner change; this is the
        // Java-compatible murmur2 partitioner, so keys land where other clients put them.
        createPartitioner: Partitioners.DefaultPartitioner,
      });
      onCreate(producer);
      return producer;
    };
    this.#producer = this.#create();
    this.#maxMessageBytes = options.maxMessageBytes;
    this.#logger = logger;
    this.close = once(() =>
      call('producer.close', undefined, async () => {
        this.#closed = true;
        await this.#renewal.catch(() => undefined);
        await this.#producer.disconnect();
      }),
    );
  }

  connect(): Promise<void> {
    return call('producer.connect', undefined, () => this.#producer.connect());
  }

  send(topic: string, messages: readonly OutgoingMessage[]): Promise<ProduceAck[]> {
    return this.sendBatch([{ topic, messages }]);
  }

  sendBatch(batches: readonly TopicMessages[]): Promise<ProduceAck[]> {
    const topic = batches.length === 1 ? batches[0]?.topic : undefined;
    return call('producer.send', topic, async () => {
      const topicMessages = batches.map((batch) => ({
        topic: batch.topic,
        messages: batch.messages.map((message) => this.#toKafkajs(batch.topic, message)),
      }));
      const producer = this.#producer;
      try {
        return await this.#sendWith(producer, topicMessages);
      } catch (error) {
        const breakage = this.#closed ? undefined : producerBreakage(error);
        if (breakage === undefined) throw error;
        await this.#renew(producer, breakage, error);
        // A disconnected producer sent nothing; a fenced one had this call's records rejected,
        // and when they all go to one partition that is all of them. Either way the new producer
        // (new producer id, sequences from 0) sends each record once. Records of a fenced call
        // spread over partitions may be partly in the log already: the caller decides.
        if (breakage === 'fenced' && !toOnePartition(topicMessages)) {
          throw new KafkaClientError(
            `producer.send${topic === undefined ? '' : ` (${topic})`} failed: the producer was fenced (${redactText(describeError(error as Error))}); it has been replaced, but records of this call on other partitions may already be stored, so they are not sent again here`,
            { operation: 'producer.send', topic, retriable: true, cause: error },
          );
        }
        return await this.#sendWith(this.#producer, topicMessages);
      }
    });
  }

  async #sendWith(
    producer: Producer,
    topicMessages: { topic: string; messages: Message[] }[],
  ): Promise<ProduceAck[]> {
    const metadata = await producer.sendBatch({ topicMessages, acks: ACKS_ALL });
    return metadata.map(toAck);
  }

  /** Replaces a broken producer once, however many sends found it broken at the same time. */
  #renew(broken: Producer, breakage: 'disconnected' | 'fenced', error: unknown): Promise<void> {
    if (this.#producer !== broken) return this.#renewal;
    this.#logger.warn(
      { breakage, err: redactText(error instanceof Error ? describeError(error) : String(error)) },
      'kafka producer broken for good: replacing it with a new one and sending its records again',
    );
    const fresh = this.#create();
    this.#producer = fresh;
    this.#renewal = fresh.connect();
    // The broken one may still hold connections; it is of no further use.
    void broken.disconnect().catch(() => undefined);
    return this.#renewal;
  }

  #toKafkajs(topic: string, message: OutgoingMessage): Message {
    if (this.#maxMessageBytes !== undefined) {
      const size = approximateSize(message);
      if (size > this.#maxMessageBytes) {
        throw new KafkaClientError(
          `a record of ${size} bytes exceeds the ${this.#maxMessageBytes}-byte limit (topic ${topic})`,
          // The broker's code for the same refusal, so callers treat both alike.
          { operation: 'producer.send', topic, retriable: false, code: 'MESSAGE_TOO_LARGE' },
        );
      }
    }
    return {
      key: message.key,
      value: message.value,
      ...(message.headers === undefined ? {} : { headers: { ...message.headers } }),
      ...(message.partition === undefined ? {} : { partition: message.partition }),
      ...(message.timestamp === undefined ? {} : { timestamp: String(message.timestamp) }),
    };
  }
}

function approximateSize(message: OutgoingMessage): number {
  let size = byteLength(message.key) + byteLength(message.value);
  for (const [name, value] of Object.entries(message.headers ?? {}))
    size += byteLength(name) + byteLength(value);
  return size;
}

function byteLength(value: Buffer | string | null): number {
  if (value === null) return 0;
  return typeof value === 'string' ? Buffer.byteLength(value) : value.length;
}

function toAck(metadata: RecordMetadata): ProduceAck {
  return {
    topic: metadata.topicName,
    partition: metadata.partition,
    baseOffset: BigInt(metadata.baseOffset ?? metadata.offset ?? '-1'),
  };
}

/*
 * kafkajs waits 5 s by default, and its fetch loop sleeps that long whenever every assigned
 * partition is paused. The assignment hook pauses them all after each join until it has sought,
 * so every join cost 5 s before the first record (most of a 20,000-bar benchmark run). A fetch
 * still returns as soon as records arrive; a shorter wait only costs idle fetch requests.
 */
const DEFAULT_MAX_WAIT_MS = 250;

class KafkajsConsumer implements ConsumerPort {
  readonly #consumer: Consumer;
  readonly #logger: KafkaLogger;
  readonly #groupId: string;
  /** Bumped on every group join, so a slow assignment hook of an older join cannot seek. */
  #generation = 0;
  readonly close: () => Promise<void>;

  constructor(kafka: Kafka, options: ConsumerOptions, logger: KafkaLogger) {
    this.#groupId = options.groupId;
    this.#logger = logger;
    this.#consumer = kafka.consumer({
      groupId: options.groupId,
      allowAutoTopicCreation: false,
      ...(options.maxBytesPerPartition === undefined
        ? {}
        : { maxBytesPerPartition: options.maxBytesPerPartition }),
      ...(options.maxBytes === undefined ? {} : { maxBytes: options.maxBytes }),
      ...(options.sessionTimeoutMs === undefined ? {} : { sessionTimeout: options.sessionTimeoutMs }),
      maxWaitTimeInMs: options.maxWaitMs ?? DEFAULT_MAX_WAIT_MS,
    });
    // disconnect() stops the runner first, which waits for the running batch, then leaves the group.
    this.close = once(() => call('consumer.close', undefined, () => this.#consumer.disconnect()));
  }

  connect(): Promise<void> {
    return call('consumer.connect', undefined, () => this.#consumer.connect());
  }

  subscribe(topics: readonly string[], options: { fromBeginning?: boolean } = {}): Promise<void> {
    return call('consumer.subscribe', topics.join(','), () =>
      this.#consumer.subscribe({ topics: [...topics], fromBeginning: options.fromBeginning ?? false }),
    );
  }

  run(options: ConsumerRunOptions): Promise<void> {
    const onCrash = (error: Error): void => {
      options.onCrash?.(error);
    };
    if (options.onPartitionsAssigned !== undefined) {
      const hook = (assigned: readonly TopicPartitions[]) =>
        options.onPartitionsAssigned?.(assigned) ?? Promise.resolve([]);
      this.#consumer.on(this.#consumer.events.GROUP_JOIN, (event) => {
        this.#onGroupJoin(event.payload.memberAssignment, hook, onCrash);
      });
    }
    this.#consumer.on(this.#consumer.events.CRASH, (event) => {
      // kafkajs restarts itself after retriable crashes; only a final one is reported.
      if (!event.payload.restart) onCrash(toClientError('consumer.run', undefined, event.payload.error));
    });
    return call('consumer.run', undefined, () =>
      this.#consumer.run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        partitionsConsumedConcurrently: options.partitionsConsumedConcurrently ?? 1,
        eachBatch: (payload) => options.eachBatch(toBatch(payload)),
      }),
    );
  }

  /**
   * GROUP_JOIN is emitted synchronously after the join/sync and before the first fetch of the new
   * generation, so pausing here guarantees no record is read before the hook's positions are set.
   */
  #onGroupJoin(
    memberAssignment: Record<string, number[]>,
    hook: (
      assigned: readonly TopicPartitions[],
    ) => Promise<readonly TopicPartitionOffset[] | AssignmentDecision>,
    onCrash: (error: Error) => void,
  ): void {
    const generation = ++this.#generation;
    const assigned: TopicPartitions[] = Object.entries(memberAssignment).map(([topic, partitions]) => ({
      topic,
      partitions: [...partitions],
    }));
    this.pause(assigned);
    hook(assigned).then(
      (result) => {
        if (generation !== this.#generation) return; // a newer join owns the partitions now
        const { positions, hold } = 'positions' in result ? result : { positions: result, hold: [] };
        for (const position of positions) this.seek(position);
        const held = new Set(hold.map(({ topic, partition }) => partitionKey(topic, partition)));
        this.resume(
          assigned.map(({ topic, partitions }) => ({
            topic,
            partitions: partitions.filter((partition) => !held.has(partitionKey(topic, partition))),
          })),
        );
      },
      (error: unknown) => {
        const failure = toClientError('consumer.onPartitionsAssigned', undefined, error);
        this.#logger.error(
          { groupId: this.#groupId, assigned, error: failure.message },
          'partition assignment hook failed; assigned partitions stay paused',
        );
        onCrash(failure);
      },
    );
  }

  seek(position: TopicPartitionOffset): void {
    this.#consumer.seek({
      topic: position.topic,
      partition: position.partition,
      offset: position.offset.toString(),
    });
  }

  pause(partitions: readonly TopicPartitions[]): void {
    this.#consumer.pause(partitions.map(({ topic, partitions: list }) => ({ topic, partitions: [...list] })));
  }

  resume(partitions: readonly TopicPartitions[]): void {
    this.#consumer.resume(
      partitions.map(({ topic, partitions: list }) => ({ topic, partitions: [...list] })),
    );
  }

  paused(): TopicPartitions[] {
    return this.#consumer.paused().map(({ topic, partitions }) => ({ topic, partitions: [...partitions] }));
  }

  commitOffsets(positions: readonly TopicPartitionOffset[]): Promise<void> {
    return call('consumer.commitOffsets', undefined, () =>
      this.#consumer.commitOffsets(
        positions.map(({ topic, partition, offset }) => ({ topic, partition, offset: offset.toString() })),
      ),
    );
  }
}

function toBatch(payload: EachBatchPayload): import('../port.ts').ConsumedBatch {
  const { batch } = payload;
  return {
    topic: batch.topic,
    partition: batch.partition,
    messages: batch.messages.map((message) => toConsumed(batch.topic, batch.partition, message)),
    highWatermark: BigInt(batch.highWatermark),
    resolveOffset: (offset) => {
      payload.resolveOffset(offset.toString());
    },
    heartbeat: () => payload.heartbeat(),
    isRunning: () => payload.isRunning(),
    isStale: () => payload.isStale(),
  };
}

function toConsumed(topic: string, partition: number, message: KafkajsMessage): ConsumedMessage {
  return {
    topic,
    partition,
    offset: BigInt(message.offset),
    key: message.key ?? null,
    value: message.value,
    headers: decodeHeaders(message.headers),
    timestamp: Number(message.timestamp),
  };
}

function decodeHeaders(headers: IHeaders | undefined): Record<string, string> {
  const decoded: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers ?? {})) {
    const last = Array.isArray(value) ? value.at(-1) : value;
    if (last !== undefined) decoded[name] = Buffer.isBuffer(last) ? last.toString('utf8') : last;
  }
  return decoded;
}

class KafkajsAdmin implements AdminPort {
  readonly #admin: Admin;
  readonly close: () => Promise<void>;

  constructor(kafka: Kafka) {
    this.#admin = kafka.admin();
    this.close = once(() => call('admin.close', undefined, () => this.#admin.disconnect()));
  }

  connect(): Promise<void> {
    return call('admin.connect', undefined, () => this.#admin.connect());
  }

  listTopics(): Promise<string[]> {
    return call('admin.listTopics', undefined, () => this.#admin.listTopics());
  }

  fetchTopicMetadata(topics: readonly string[]): Promise<TopicMetadata[]> {
    return call('admin.fetchTopicMetadata', topics.join(','), async () => {
      const { topics: metadata } = await this.#admin.fetchTopicMetadata({ topics: [...topics] });
      return metadata.map((topic) => ({
        name: topic.name,
        partitions: topic.partitions
          .map((partition) => ({
            partition: partition.partitionId,
            leader: partition.leader,
            replicas: partition.replicas,
            isr: partition.isr,
            offlineReplicas: partition.offlineReplicas ?? [],
          }))
          .sort((a, b) => a.partition - b.partition),
      }));
    });
  }

  createTopics(topics: readonly NewTopic[]): Promise<boolean> {
    return call('admin.createTopics', topics.map((topic) => topic.name).join(','), () =>
      this.#admin.createTopics({
        waitForLeaders: true,
        topics: topics.map((topic) => ({
          topic: topic.name,
          numPartitions: topic.partitions,
          replicationFactor: topic.replicationFactor,
          configEntries: Object.entries(topic.configs).map(([name, value]) => ({ name, value })),
        })),
      }),
    );
  }

  describeTopicConfigs(topics: readonly string[]): Promise<Map<string, TopicConfigEntry[]>> {
    return call('admin.describeConfigs', topics.join(','), async () => {
      const { resources } = await this.#admin.describeConfigs({
        includeSynonyms: false,
        resources: topics.map((name) => ({ type: TOPIC_RESOURCE, name })),
      });
      const byTopic = new Map<string, TopicConfigEntry[]>();
      for (const resource of resources) {
        if (resource.errorCode !== 0) {
          throw new KafkaClientError(
            `describe configs of ${resource.resourceName}: ${resource.errorMessage}`,
            {
              operation: 'admin.describeConfigs',
              topic: resource.resourceName,
              retriable: false,
            },
          );
        }
        byTopic.set(
          resource.resourceName,
          resource.configEntries.map((entry) => ({
            name: entry.configName,
            value: entry.configValue,
            isTopicOverride: (entry.configSource as number) === TOPIC_CONFIG_SOURCE,
            isSensitive: entry.isSensitive,
          })),
        );
      }
      return byTopic;
    });
  }

  replaceTopicConfigs(topic: string, configs: Readonly<Record<string, string>>): Promise<void> {
    return call('admin.alterConfigs', topic, async () => {
      await this.#admin.alterConfigs({
        validateOnly: false,
        resources: [
          {
            type: TOPIC_RESOURCE,
            name: topic,
            configEntries: Object.entries(configs).map(([name, value]) => ({ name, value })),
          },
        ],
      });
    });
  }

  fetchTopicOffsets(topic: string): Promise<PartitionOffsets[]> {
    return call('admin.fetchTopicOffsets', topic, async () => {
      const offsets = await this.#admin.fetchTopicOffsets(topic);
      return offsets
        .map((entry) => ({ partition: entry.partition, low: BigInt(entry.low), high: BigInt(entry.high) }))
        .sort((a, b) => a.partition - b.partition);
    });
  }

  fetchTopicOffsetsAt(topic: string, at: Date): Promise<TopicPartitionOffset[]> {
    return call('admin.fetchTopicOffsetsByTimestamp', topic, async () => {
      // kafkajs answers the log end offset where no record is at or after the timestamp.
      const offsets = await this.#admin.fetchTopicOffsetsByTimestamp(topic, at.getTime());
      return offsets
        .map((entry) => ({ topic, partition: entry.partition, offset: BigInt(entry.offset) }))
        .sort((a, b) => a.partition - b.partition);
    });
  }

  fetchGroupOffsets(
    groupId: string,
    topics: readonly string[],
  ): Promise<(TopicPartition & { offset: bigint | null })[]> {
    return call('admin.fetchOffsets', topics.join(','), async () => {
      const perTopic = await this.#admin.fetchOffsets({ groupId, topics: [...topics] });
      return perTopic.flatMap(({ topic, partitions }) =>
        partitions.map(({ partition, offset }) => ({
          topic,
          partition,
          // kafkajs reports "-1" for a partition the group never committed.
          offset: offset === '-1' ? null : BigInt(offset),
        })),
      );
    });
  }

  describeCluster(): Promise<ClusterDescription> {
    return call('admin.describeCluster', undefined, async () => {
      const cluster = await this.#admin.describeCluster();
      return {
        clusterId: cluster.clusterId,
        controller: cluster.controller,
        brokers: cluster.brokers.map(({ nodeId, host, port }) => ({ nodeId, host, port })),
      };
    });
  }

  deleteTopics(topics: readonly string[]): Promise<void> {
    return call('admin.deleteTopics', topics.join(','), () =>
      this.#admin.deleteTopics({ topics: [...topics] }),
    );
  }

  deleteRecords(topic: string, partition: number, beforeOffset: bigint): Promise<void> {
    return call('admin.deleteTopicRecords', topic, async () => {
      // kafkajs looks the leader up in its cached metadata only: a topic created since the last
      // refresh has none there ("Could not find the leader"), so refresh it first.
      await this.#admin.fetchTopicMetadata({ topics: [topic] });
      await this.#admin.deleteTopicRecords({
        topic,
        partitions: [{ partition, offset: beforeOffset.toString() }],
      });
    });
  }
}
