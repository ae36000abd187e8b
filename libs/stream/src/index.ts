export {
  BarSink,
  type BarSinkOptions,
  type BarSinkStats,
  type SinkFaultHooks,
  type SliceCommit,
  type SliceStart,
} from './bar-sink.ts';
export {
  deadLetterFor,
  deadLetterSends,
  planBatch,
  type BatchPlan,
  type DeadLetter,
  type PlannedBar,
  type PlannedRejection,
  type PlanOptions,
} from './batch-plan.ts';
export {
  DatabaseRejectedError,
  InvalidBarError,
  MessageTooLargeError,
  StreamOptionsError,
  type RecordRejection,
} from './errors.ts';
export { ingestEventFor, STREAM_SOURCE } from './ingest-event.ts';
export {
  registerLagGauge,
  stalledPartitions,
  streamLag,
  type StalledPartition,
  type StreamLagInput,
} from './lag.ts';
export {
  lockNextOffset,
  readGroupOffsets,
  readStoredOffsets,
  storeNextOffset,
  type StoredOffset,
} from './offset-store.ts';
export {
  OUTBOX_ID_HEADER,
  OutboxRelay,
  oldestUnpublishedAgeSeconds,
  oldestUnsentOutboxEvent,
  type OutboxRelayOptions,
  type OutboxRelayStats,
  type UnsentOutboxEvent,
} from './outbox-relay.ts';
