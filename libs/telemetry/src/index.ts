export {
  activeTelemetry,
  startTelemetry,
  TelemetryAlreadyStartedError,
  type Telemetry,
  type TelemetryOptions,
} from './sdk.ts';
export {
  startHealthServer,
  type HealthServer,
  type HealthServerOptions,
  type MetricsHandler,
  type Readiness,
} from './health-server.ts';
export {
  currentTraceContext,
  extractKafkaContext,
  extractTraceContext,
  injectKafkaHeaders,
  runInSpan,
  startBullmqConsumerSpan,
  startBullmqProducerSpan,
  startConsumerSpan,
  startKafkaConsumerSpan,
  startKafkaProducerSpan,
  withExtractedContext,
  type BullmqEnqueueTarget,
  type BullmqProcessedJob,
  type KafkaConsumedMessage,
  type KafkaHeaders,
  type KafkaProduceTarget,
  type SpanOptions,
  type TraceContext,
} from './propagation.ts';
export { createLogger, type CreateLoggerOptions, type Logger } from './logger.ts';
export {
  assertPortFree,
  findPortHolder,
  listenOrExplain,
  PortInUseError,
  type PortHolder,
} from './port-in-use.ts';
export { JsonLinesFileSpanExporter, type SpanFileRecord } from './file-span-exporter.ts';
export { serviceNameFor, telemetryOptionsFor } from './options.ts';
export { QUEUE_DEPTH_STATES, registerQueueDepthGauge, type CountedQueue } from './queue-metrics.ts';
