export type {
  AdminPort,
  AssignmentDecision,
  ClusterDescription,
  ConsumedBatch,
  ConsumedMessage,
  ConsumerOptions,
  ConsumerPort,
  ConsumerRunOptions,
  KafkaClient,
  NewTopic,
  OutgoingMessage,
  PartitionMetadata,
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
} from './port.ts';
export { KafkaClientError } from './kafka-client-error.ts';
export { silentKafkaLogger, type KafkaLogger } from './logger.ts';
export { createKafkajsClient, type KafkajsClientOptions } from './kafkajs/adapter.ts';
export {
  ensureTopics,
  topicSpecsFromConfig,
  type ConfigChange,
  type EnsureTopicsReport,
  type TopicAction,
  type TopicReport,
  type TopicSpec,
} from './topics.ts';
export {
  consumerLag,
  partitionKey,
  type ConsumerLagInput,
  type NextOffsetSource,
  type PartitionLag,
} from './lag.ts';
export {
  createBarFeed,
  defaultFeedStart,
  type BarFeed,
  type BarFeedOptions,
  type FeedBar,
} from './feed/generate.ts';
export {
  publishFeed,
  type FeedProgress,
  type FeedSummary,
  type PublishFeedOptions,
  type ResendOptions,
} from './feed/publish.ts';
export {
  FeedUsageError,
  parseFeedRequest,
  type FeedRequest,
  type UnvalidatedFeedRequest,
} from './feed/request.ts';
