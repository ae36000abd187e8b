export {
  CacheClient,
  type CacheClientOptions,
  type CachePolicy,
  type CacheResult,
  type CacheSource,
  type CacheStatus,
  type InvalidateResult,
  type WarmResult,
} from './cache-client.ts';
export {
  cachedBarSchema,
  cachedMacroEventSchema,
  cachedRollupSchema,
  createMarketDatasets,
  type CachedBar,
  type CachedMacroEvent,
  type CachedRollup,
  type DatasetDefinition,
  type DatasetRegistry,
  type LoadedSlice,
  type MarketDatasetSettings,
} from './datasets.ts';
export { cacheEnvelopeSchema, type CacheEnvelope } from './envelope.ts';
export { CacheLoadError } from './errors/cache-load-error.ts';
export { CacheWaitTimeoutError } from './errors/cache-wait-timeout-error.ts';
export { InvalidCacheRequestError } from './errors/invalid-cache-request-error.ts';
export {
  ALL_CURRENCIES,
  CacheKeys,
  DATASETS,
  ROLLUP_TIMEFRAMES,
  checkSymbol,
  entriesOfSymbol,
  entryOf,
  type CacheRequest,
  type DatasetName,
} from './keys.ts';
export { createCacheRedis, redisReady, type CacheRedisConfig } from './redis.ts';
export { STAT_COUNTERS, readCacheStats, type DatasetStats, type StatCounter } from './stats.ts';
export { registerCacheRequestsCounter } from './request-metrics.ts';
