export {
  TIMEFRAME_SECONDS,
  isTimeframe,
  type BarRequest,
  type MacroEventProvider,
  type MacroRequest,
  type MarketDataProvider,
  type ProviderFailure,
  type SourceRejection,
  type SourceRejectionReason,
  type Timeframe,
  type UnvalidatedBar,
  type UnvalidatedBarBatch,
  type UnvalidatedMacroEvent,
  type UnvalidatedMacroEventBatch,
} from './types.ts';
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
