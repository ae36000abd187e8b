export {
  BAR_REJECT_REASONS,
  DEFAULT_MAX_FUTURE_SKEW_MS,
  DEFAULT_MIN_BAR_TIMESTAMP,
  barRuleOptionsFromSettings,
  barSchema,
  createBarSchema,
  decodeBarMessage,
  encodeBarMessage,
  parseBar,
} from './bar.ts';
export type {
  Bar,
  BarInput,
  BarParseResult,
  BarRejectReason,
  BarRuleOptions,
  BarRuleSettings,
  BarSchema,
} from './bar.ts';
export {
  DEAD_LETTER_HEADERS,
  deadLetterEnvelopeSchema,
  deadLetterHeaders,
  decodeBytes,
  encodeBytes,
  encodedBytesSchema,
} from './dead-letter.ts';
export type { DeadLetterEnvelope, EncodedBytes } from './dead-letter.ts';
export {
  DIMENSIONS,
  dimensionSchema,
  ingestQualitySchema,
  ingestRunEventSchema,
} from './ingest-run-event.ts';
export type { Dimension, IngestQuality, IngestRunEvent } from './ingest-run-event.ts';
export {
  JOBS,
  QUEUES,
  jobQueue,
  parseJobPayload,
  queueCatalog,
  runPlanJobSchema,
  warmAllJobSchema,
  warmSymbolJobSchema,
} from './jobs.ts';
export type {
  AnyJobName,
  JobName,
  JobPayload,
  JobPayloadInput,
  QueueName,
  RunPlanJob,
  WarmAllJob,
  WarmSymbolJob,
} from './jobs.ts';
export { macroEventSchema } from './macro-event.ts';
export type { MacroEvent } from './macro-event.ts';
export {
  SYMBOL_PATTERN,
  reasonCodeSchema,
  sourceSchema,
  symbolSchema,
  timeWindowSchema,
  traceContextSchema,
  utcTimestampSchema,
} from './primitives.ts';
export type { TimeWindow, TraceContext } from './primitives.ts';
export {
  READINESS_STATUSES,
  readinessComponentSchema,
  readinessSnapshotSchema,
  readinessStatusSchema,
} from './readiness-snapshot.ts';
export type { ReadinessComponent, ReadinessSnapshot, ReadinessStatus } from './readiness-snapshot.ts';
export { tickSchema } from './tick.ts';
export type { Tick } from './tick.ts';
export {
  TIMEFRAMES,
  alignTimestamp,
  isAligned,
  isTimeframe,
  nextBarOpen,
  timeframeMs,
  timeframeSchema,
} from './timeframe.ts';
export type { Timeframe } from './timeframe.ts';
export { UnknownJobError } from './unknown-job-error.ts';
export { TOPICS, decodeTopicMessage, topicCatalog } from './topics.ts';
export type { TopicContract, TopicDecodeResult, TopicName, TopicValue } from './topics.ts';
