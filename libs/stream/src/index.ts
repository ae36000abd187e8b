export {
  BarSink,
  type BarSinkOptions,
  type BarSinkStats,
  type HeldOffsetGap,
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
  OffsetGapError,
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
  describeOffsetGap,
  findOffsetGap,
  listOffsetGaps,
  offsetGapJson,
  partitionLog,
  recordOffsetGap,
  resolvedGapIds,
  resolveOffsetGap,
  resolveOffsetGapInLog,
  type FoundOffsetGap,
  type OffsetGap,
  type OffsetGapKind,
  type OffsetGapResolution,
  type OffsetGapTarget,
  type OffsetOutOfRangePolicy,
} from './offset-gaps.ts';
export {
  lockNextOffset,
  readAllStoredOffsets,
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
