export {
  type BarRequest,
  type DriftFinding,
  type MacroEventProvider,
  type MergeReport,
  type MacroRequest,
  type MarketDataProvider,
  type ProviderFailure,
  type SourceRejection,
  type SourceRejectionReason,
  type UnvalidatedBar,
  type UnvalidatedBarBatch,
  type UnvalidatedMacroEvent,
  type UnvalidatedMacroEventBatch,
} from './types.ts';
export {
  parseIsoInstant,
  type IsoInstant,
  type IsoInstantProblem,
  type IsoInstantResult,
} from './time/iso-instant.ts';
export { escapeControlCharacters, hasControlCharacter } from './text/control-characters.ts';
export { assetClassOf, type AssetClass } from './calendar/asset-class.ts';
export { CalendarRangeError } from './calendar/calendar-range-error.ts';
export { NYSE_EARLY_CLOSES, NYSE_HOLIDAYS, NYSE_KNOWN_YEARS } from './calendar/nyse-holidays.ts';
export {
  calendarForAssetClass,
  expectedBarTimes,
  tradingSessions,
  type TradingCalendar,
  type TradingSession,
} from './calendar/trading-calendar.ts';
export {
  assessQuality,
  assessQualityBySymbol,
  type Gap,
  type QualityBar,
  type QualityOptions,
  type QualityReport,
} from './quality/assess-quality.ts';
export { detectFalseTicks, type FalseTick } from './quality/false-ticks.ts';
export {
  CSV_BAR_COLUMNS,
  createCsvProvider,
  readCsvBars,
  type CsvReadOptions,
} from './providers/csv-provider.ts';
export { CsvFormatError } from './providers/csv-format-error.ts';
export {
  createYahooProvider,
  yahooChartSchema,
  type YahooChart,
  type YahooProviderOptions,
} from './providers/yahoo-provider.ts';
export {
  createFredProvider,
  fredObservationsSchema,
  fredReleaseDatesSchema,
  type FredProviderOptions,
  type FredSeriesSpec,
} from './providers/fred-provider.ts';
export {
  createHttpClient,
  parseRetryAfter,
  type HttpClient,
  type HttpClientOptions,
  type RetryEvent,
} from './http/http-client.ts';
export { createRateLimiter, type RateLimiter } from './http/rate-limiter.ts';
export { ProviderError } from './http/provider-error.ts';
export { ProviderRequestError } from './http/provider-request-error.ts';
export { ProviderResponseError, type ProviderResponseReason } from './http/provider-response-error.ts';
export {
  mergeBarsByPriority,
  type MergeOptions,
  type MergeResult,
  type SourceRows,
} from './merge/merge-bars.ts';
export { createFailoverProvider, type FailoverOptions } from './merge/failover-provider.ts';
export { createMergingProvider, type MergingOptions } from './merge/merging-provider.ts';
export { AllSourcesFailedError } from './merge/all-sources-failed-error.ts';
