export {
  InvalidRowError,
  InvalidStorageOptionsError,
  MigrationDriftError,
  MigrationFailedError,
  MigrationSetError,
  NotInTransactionError,
  StorageModeError,
} from './errors.ts';
export { classifyDatabaseError, sqlState, type DatabaseErrorKind } from './database-errors.ts';
export {
  mergeBars,
  mergeBarsIsolating,
  type BarRow,
  type MergeCounts,
  type RefusedBar,
} from './merge-bars.ts';
export { mergeMacroEvents, type MacroEventRow } from './merge-macro-events.ts';
export { migrate, type MigrateOptions, type MigrateResult } from './migrate.ts';
export { loadMigrations, MIGRATIONS_DIR, type Migration } from './migration-files.ts';
export { createPool, withTransaction, type DatabaseConfig } from './pool.ts';
export { recordRejectedRecords, type RejectedRecord } from './rejected-records.ts';
export * as schema from './schema.ts';
export type { SqlExecutor } from './sql-executor.ts';
export {
  parseRollupsRefreshed,
  refreshRollups,
  ROLLUPS_REFRESHED_CHANNEL,
  runStorageMaintenance,
  type RefreshRollupsResult,
  type RollupsRefreshed,
  type StorageMaintenanceResult,
} from './storage-maintenance.ts';
export {
  detectStorageMode,
  storageMode,
  STORAGE_MODES,
  timescaleAvailability,
  type StorageMode,
  type TimescaleAvailability,
} from './storage-mode.ts';
export {
  DEFAULT_STORAGE_OPTIONS,
  resolveStorageOptions,
  type RollupRefreshPolicy,
  type StorageOptions,
  type StorageOptionsInput,
} from './storage-options.ts';
export { applyStoragePolicies, type PolicyChange, type StoragePoliciesResult } from './storage-policies.ts';
export {
  pruneSystemTables,
  systemPruneRules,
  type SystemPruneResult,
  type SystemPruneRule,
  type SystemRetentionDays,
} from './system-pruning.ts';
export {
  insertOutboxEvent,
  OUTBOX_CHANNEL,
  recordIngestRun,
  recordRejectedRows,
  type IngestRunRecord,
  type OutboxEvent,
  type RejectedRow,
} from './system-writes.ts';
