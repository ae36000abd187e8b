/**
 * Our Kafka port: the few operations the backbone needs, in our own types. Workers depend on these
 * interfaces, never on kafkajs, so the client can be swapped (e.g. for a librdkafka binding) if the
 * benchmarks ask for it, by writing one more adapter.
 *
 * Offsets are `bigint`: Kafka offsets are int64, and lag arithmetic on strings or floats is wrong
 * beyond 2^53.
 */

/** One partition of one topic. */
export interface TopicPartition {
  readonly topic: string;
  readonly partition: number;
}

/** Several partitions of one topic (the shape of pause, resume and assignments). */
export interface TopicPartitions {
  readonly topic: string;
  readonly partitions: readonly number[];
}

/** A position in a partition: `offset` is the NEXT record to read (Kafka's commit convention). */
export interface TopicPartitionOffset extends TopicPartition {
  readonly offset: bigint;
}

/** A record as consumed. */
export interface ConsumedMessage {
  readonly topic: string;
  readonly partition: number;
  readonly offset: bigint;
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  /** Header values decoded as UTF-8; a header sent twice keeps its last value. */
  readonly headers: Readonly<Record<string, string>>;
  /** Record timestamp in epoch milliseconds (create time unless the topic says log-append time). */
  readonly timestamp: number;
}

/** A record to produce. */
export interface OutgoingMessage {
  /** Records with the same key land on the same partition (murmur2, as the Java client). */
  readonly key: Buffer | string | null;
  readonly value: Buffer | string | null;
  readonly headers?: Readonly<Record<string, string>>;
  /** Force a partition; normally left to the key. */
  readonly partition?: number;
  /** Epoch milliseconds; defaults to the send time. */
  readonly timestamp?: number;
}

/** Where the broker appended the first record of one partition's share of a send. */
export interface ProduceAck extends TopicPartition {
  /** Offset of the first record appended to this partition by the request. */
  readonly baseOffset: bigint;
}

/** Messages for one topic, for {@link ProducerPort.sendBatch}. */
export interface TopicMessages {
  readonly topic: string;
  readonly messages: readonly OutgoingMessage[];
}

/**
 * An idempotent, `acks=all` producer. A send resolves only when every record is durably in the
 * in-sync replicas; broker-side de-duplication makes the producer's own retries safe.
 *
 * @example await producer.send('market.bars.v1', [{ key: 'EURUSD', value: json }]);
 */
export interface ProducerPort {
  connect(): Promise<void>;
  /** Sends many records in one request per broker (the unit of throughput). */
  send(topic: string, messages: readonly OutgoingMessage[]): Promise<ProduceAck[]>;
  /** Sends records for several topics in one request per broker. */
  sendBatch(batches: readonly TopicMessages[]): Promise<ProduceAck[]>;
  /** Flushes nothing (sends are awaited) and disconnects; safe to call more than once. */
  close(): Promise<void>;
}

/** One fetched batch of one partition, handed to {@link ConsumerRunOptions.eachBatch}. */
export interface ConsumedBatch {
  readonly topic: string;
  readonly partition: number;
  readonly messages: readonly ConsumedMessage[];
  /** The partition's log end offset when the batch was fetched. */
  readonly highWatermark: bigint;
  /**
   * Marks `offset` as processed, so the next fetch of this partition starts after it. Nothing is
   * committed to Kafka: the caller commits where it stores its truth.
   */
  resolveOffset(offset: bigint): void;
  /** Tells the group coordinator this member is alive during a long batch. */
  heartbeat(): Promise<void>;
  /** False once the consumer is stopping: finish or abandon the batch. */
  isRunning(): boolean;
  /** True when a rebalance or a seek made this batch obsolete: do not apply it. */
  isStale(): boolean;
}

/** What an assignment hook decided: where to start, and which partitions not to read yet. */
export interface AssignmentDecision {
  /** Sought before the first fetch, as a plain array return. */
  readonly positions: readonly TopicPartitionOffset[];
  /** Stay paused after the hook (e.g. a sink holds a partition for an operator); `resume` them later. */
  readonly hold: readonly TopicPartition[];
}

/** Callbacks of a running consumer. */
export interface ConsumerRunOptions {
  /** Processes one batch; the next batch of this partition is fetched after it resolves. */
  eachBatch(batch: ConsumedBatch): Promise<void>;
  /**
   * Called after every group join with the member's complete assignment (kafkajs rebalances
   * eagerly: each join replaces the whole assignment). The assigned partitions are paused while
   * the hook runs, and every position it returns is sought before any record is fetched, so a
   * sink can resume from the offsets stored in its database. Return `[]` to keep the group's
   * committed positions, or an {@link AssignmentDecision} to keep some partitions paused.
   */
  onPartitionsAssigned?(
    assigned: readonly TopicPartitions[],
  ): Promise<readonly TopicPartitionOffset[] | AssignmentDecision>;
  /**
   * The consumer stopped for good: a non-retriable error, or the assignment hook failed (its
   * partitions stay paused rather than being read from a wrong position).
   */
  onCrash?(error: Error): void;
  /** Batches of different partitions processed concurrently (default 1). */
  partitionsConsumedConcurrently?: number;
}

/**
 * A consumer-group member for exactly-once sinks: offsets are resolved by the caller and never
 * auto-committed; positions can be sought; partitions can be paused for backpressure.
 *
 * @example
 * await consumer.subscribe(['market.bars.v1']);
 * await consumer.run({ eachBatch: async (batch) => { await store(batch); batch.resolveOffset(lastOffset); } });
 */
export interface ConsumerPort {
  connect(): Promise<void>;
  /** Subscribes before {@link run}; `fromBeginning` applies only when the group has no offset. */
  subscribe(topics: readonly string[], options?: { fromBeginning?: boolean }): Promise<void>;
  /** Starts fetching; resolves once the consumer loop is started, not when it ends. */
  run(options: ConsumerRunOptions): Promise<void>;
  /** Reads `offset` next on this partition (after {@link run}); an in-flight batch becomes stale. */
  seek(position: TopicPartitionOffset): void;
  /** Stops fetching these partitions (backpressure); the group membership is kept. */
  pause(partitions: readonly TopicPartitions[]): void;
  resume(partitions: readonly TopicPartitions[]): void;
  /** Currently paused partitions. */
  paused(): TopicPartitions[];
  /** Commits positions (next offset to read) to the group, so standard lag tools see them. */
  commitOffsets(positions: readonly TopicPartitionOffset[]): Promise<void>;
  /** Leaves the group and disconnects; waits for the running batch; idempotent. */
  close(): Promise<void>;
}

/** Partition metadata as the controller sees it. */
export interface PartitionMetadata {
  readonly partition: number;
  readonly leader: number;
  readonly replicas: readonly number[];
  readonly isr: readonly number[];
  readonly offlineReplicas: readonly number[];
}

export interface TopicMetadata {
  readonly name: string;
  readonly partitions: readonly PartitionMetadata[];
}

/** The log start and end of one partition. */
export interface PartitionOffsets {
  readonly partition: number;
  /** Offset of the oldest record still retained. */
  readonly low: bigint;
  /** Log end offset: the offset the next appended record gets. */
  readonly high: bigint;
}

/** One topic config entry as described by the broker. */
export interface TopicConfigEntry {
  readonly name: string;
  readonly value: string | null;
  /** True when the value is set on the topic itself (not inherited from the broker or defaults). */
  readonly isTopicOverride: boolean;
  readonly isSensitive: boolean;
}

/** A topic to create. */
export interface NewTopic {
  readonly name: string;
  readonly partitions: number;
  readonly replicationFactor: number;
  readonly configs: Readonly<Record<string, string>>;
}

export interface ClusterDescription {
  readonly clusterId: string;
  readonly controller: number | null;
  readonly brokers: readonly { nodeId: number; host: string; port: number }[];
}

/**
 * Cluster administration: what topic provisioning, lag and readiness probes need.
 *
 * @example const ends = await admin.fetchTopicOffsets('market.bars.v1');
 */
export interface AdminPort {
  connect(): Promise<void>;
  listTopics(): Promise<string[]>;
  /** Metadata of the named topics; a missing topic is an error. */
  fetchTopicMetadata(topics: readonly string[]): Promise<TopicMetadata[]>;
  /** Creates topics and waits for their leaders; returns false when all already existed. */
  createTopics(topics: readonly NewTopic[]): Promise<boolean>;
  /** Every config entry of each named topic. */
  describeTopicConfigs(topics: readonly string[]): Promise<Map<string, TopicConfigEntry[]>>;
  /**
   * Sets topic configs. Kafka's AlterConfigs replaces a topic's whole set of topic-level
   * overrides, so pass every override the topic should keep, not only the changed ones.
   */
  replaceTopicConfigs(topic: string, configs: Readonly<Record<string, string>>): Promise<void>;
  /** Log start and end offset of every partition of a topic. */
  fetchTopicOffsets(topic: string): Promise<PartitionOffsets[]>;
  /**
   * Per partition, the offset of the first record whose timestamp is at or after `at`, or the
   * log end offset when no record is that recent: records from there on were produced since `at`.
   */
  fetchTopicOffsetsAt(topic: string, at: Date): Promise<TopicPartitionOffset[]>;
  /** The group's committed position per partition; `null` where it committed nothing. */
  fetchGroupOffsets(
    groupId: string,
    topics: readonly string[],
  ): Promise<(TopicPartition & { offset: bigint | null })[]>;
  describeCluster(): Promise<ClusterDescription>;
  /** Deletes topics (tests delete only the ones they created). */
  deleteTopics(topics: readonly string[]): Promise<void>;
  /**
   * Moves a partition's log start to `beforeOffset`, deleting the records below it (what
   * retention does by time; tests use it to make a stored offset fall before the log start).
   */
  deleteRecords(topic: string, partition: number, beforeOffset: bigint): Promise<void>;
  close(): Promise<void>;
}

/** The three roles one client hands out. */
export interface KafkaClient {
  producer(options?: ProducerOptions): ProducerPort;
  consumer(options: ConsumerOptions): ConsumerPort;
  admin(): AdminPort;
}

export interface ProducerOptions {
  /** Largest record accepted before sending; a bigger one fails the send with a named error. */
  maxMessageBytes?: number;
}

export interface ConsumerOptions {
  groupId: string;
  /** Upper bound of bytes fetched per partition per request (bounds a batch's memory). */
  maxBytesPerPartition?: number;
  /** Upper bound of bytes fetched per request. */
  maxBytes?: number;
  /** A member not heard from for this long is removed from the group. */
  sessionTimeoutMs?: number;
  /**
   * Longest wait of a fetch for new records, and the pause of the fetch loop while every assigned
   * partition is paused (after a join until the assignment hook has sought, under backpressure).
   */
  maxWaitMs?: number;
}
