export {
  combine,
  formatAge,
  formatCount,
  notOk,
  ok,
  worst,
  type CheckOutcome,
  type CheckResult,
  type Evidence,
} from './check.ts';
export { createProbeClients, type OwnedProbeClients } from './clients.ts';
export {
  createReadinessChecks,
  type ProbeClients,
  type ReadinessChecks,
  type ReadinessChecksOptions,
} from './create-checks.ts';
export { renderDashboard, type DashboardInput, type Endpoint } from './dashboard.ts';
export {
  buildReport,
  evaluateReadiness,
  exitCodeOf,
  isRequired,
  messageOf,
  type GroupStatuses,
  type ReadinessReport,
} from './evaluate.ts';
export {
  bullmqChecks,
  bullmqPrefix,
  type BullmqChecks,
  type BullmqProbeInput,
  type WatchedQueue,
} from './probes/bullmq.ts';
export {
  kafkaChecks,
  type ExpectedTopic,
  type KafkaChecks,
  type KafkaProbeInput,
  type WatchedGroup,
} from './probes/kafka.ts';
export { offsetGapsCheck } from './probes/offset-gaps.ts';
export { CACHE_DATASETS, parseInfo, redisChecks, type RedisProbeInput } from './probes/redis.ts';
export { replicationCheck, type ReplicationProbeInput } from './probes/replication.ts';
export { retentionChecks } from './probes/retention.ts';
export {
  EXPECTED_TABLES,
  expectationsFromConfig,
  timescaleChecks,
  type FreshnessExpectations,
  type TimescaleProbeInput,
} from './probes/timescaledb.ts';
export { workerRole, workersCheck, type WorkersProbeInput } from './probes/workers.ts';
export { renderMarkdown, renderPrometheus } from './render.ts';
export { ReadinessReporter, type ReadinessReporterOptions, type ReporterLogger } from './reporter.ts';
export { ProbeTimeoutError, runCheck, type CheckDefinition, type ProbeContext } from './run-check.ts';
export { grade, rulesFromConfig, type ReadinessRules, type Thresholds } from './rules.ts';
export { startReadinessServer, type ReadinessServer, type ReadinessServerOptions } from './server.ts';
export { publishSnapshot, recentSnapshots, storeSnapshot } from './snapshots.ts';
export {
  measureOutage,
  OutageNotObservedError,
  type MeasureOutageOptions,
  type OutageMeasurement,
} from './drills/measure-outage.ts';
export { CuttableTcpProxy, type ProxyTarget } from './drills/tcp-proxy.ts';
export { DrillLoadError, DrillRefusedError, DrillTargetError } from './drills/errors.ts';
export {
  DRILL_TARGETS,
  runDrill,
  type DrillOptions,
  type DrillReport,
  type DrillTarget,
} from './drills/run-drill.ts';
