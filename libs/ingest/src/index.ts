export { IngestAbortedError, type IngestAbortReason } from './errors/ingest-aborted-error.ts';
export { IngestFailedError } from './errors/ingest-failed-error.ts';
export { IngestUsageError, type UsageProblem } from './errors/ingest-usage-error.ts';
export {
  isBadInput,
  isRetriable,
  runIngest,
  type IngestDependencies,
  type IngestProgress,
  type IngestResult,
  type IngestRunOptions,
  type IngestStatus,
} from './run-ingest.ts';
export {
  BAR_PROVIDERS,
  parseIngestRequest,
  type BarIngestRequest,
  type BarProviderName,
  type CsvIngestRequest,
  type FredIngestRequest,
  type HttpIngestRequest,
  type IngestRequest,
  type IngestWindow,
  type UnvalidatedIngestOptions,
} from './request.ts';
export {
  eventQuality,
  freshnessSlaSeconds,
  type FailedSource,
  type MergeQuality,
  type RunQuality,
  type SeriesQuality,
} from './quality.ts';
export { DEFAULT_DRIFT_THRESHOLD_PCT, createBarProvider, csvFilesFor } from './sources.ts';
export { DEFAULT_FRED_SERIES } from './fred-series.ts';
export { validateEvents } from './macro-ingest.ts';
