export { DEFAULT_BACKOFF, restartDelayMs, type BackoffPolicy } from './backoff.ts';
export { summarizeError } from './error-summary.ts';
export { RestartIntensityExceededError } from './errors/restart-intensity-exceeded-error.ts';
export { SiblingOrphanedError } from './errors/sibling-orphaned-error.ts';
export { SupervisorConfigError } from './errors/supervisor-config-error.ts';
export {
  DEFAULT_HEARTBEAT_INTERVAL_MS,
  defaultInstanceId,
  heartbeatKey,
  heartbeatPayloadSchema,
  listHeartbeats,
  startHeartbeat,
  type Heartbeat,
  type HeartbeatListing,
  type HeartbeatOptions,
  type HeartbeatPayload,
  type LiveInstance,
  type MalformedHeartbeat,
} from './heartbeat.ts';
export { createJsonLinesLogger, type SupervisorLogger } from './logger.ts';
export {
  DEFAULT_HOOK_DEADLINE_MS,
  exitAfterFailedStart,
  EXIT_CLEAN,
  EXIT_FAILED,
  EXIT_ON_SECOND_SIGNAL,
  runSupervisedProcess,
  type HookResult,
  type ProcessOutcome,
  type RunProcessOptions,
  type ShutdownHook,
  type ProcessEvent,
  type ProcessFault,
  type ShutdownSignal,
  type ShutdownTrigger,
  type SignalSource,
} from './run-process.ts';
export {
  CHILD_STATES,
  RESTART_TYPES,
  STRATEGIES,
  SUPERVISOR_STATUSES,
  childSnapshotSchema,
  errorSummarySchema,
  supervisorSnapshotSchema,
  type ChildSnapshot,
  type ErrorSummary,
  type SupervisorSnapshot,
} from './snapshot.ts';
export {
  DEFAULT_INTENSITY,
  DEFAULT_SHUTDOWN_DEADLINE_MS,
  Supervisor,
  type ChildSpec,
  type ChildState,
  type RestartIntensity,
  type RestartType,
  type StopReason,
  type StopReport,
  type Strategy,
  type SupervisorOptions,
  type SupervisorStatus,
} from './supervisor.ts';
