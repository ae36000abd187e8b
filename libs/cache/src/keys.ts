import { SYMBOL_PATTERN, TIMEFRAMES, type Timeframe } from '@backbone/contracts';
import { InvalidCacheRequestError } from './errors/invalid-cache-request-error.ts';

/** The hot datasets. One value key holds one whole slice, so every write is one atomic SET. */
export const DATASETS = ['latest-bar', 'recent-bars', 'rollups', 'macro-calendar'] as const;
export type DatasetName = (typeof DATASETS)[number];

/** Rollup timeframes served by the `rollups` dataset. */
export const ROLLUP_TIMEFRAMES = ['1h', '1d'] as const satisfies readonly Timeframe[];

/** The symbol under which `macro-calendar` caches every currency's events together. */
export const ALL_CURRENCIES = 'ALL';

/**
 * What a reader asks for. `symbol` is a market symbol, or for `macro-calendar` a currency code or
 * `ALL`; `timeframe` is required by the bar datasets and absent for the macro calendar.
 *
 * @example const request: CacheRequest = { dataset: 'latest-bar', symbol: 'EURUSD', timeframe: '1m' };
 */
export interface CacheRequest {
  dataset: DatasetName;
  symbol: string;
  timeframe?: Timeframe | undefined;
}

/**
 * Every Redis key the cache uses, under `<namespace>cache:`. Nothing in a key depends on the
 * clock: the same slice always has the same key until its versions are bumped.
 *
 *   <ns>cache:versions                           hash   <dataset> -> n, <dataset>:<entry> -> n
 *   <ns>cache:slice:<dataset>:<dv>.<ev>:<entry>  string JSON envelope, PX = ttl + stale grace
 *   <ns>cache:lru:<dataset>                      zset   <entry> scored by last access (µs, strictly increasing)
 *   <ns>cache:lock:<dataset>:<dv>.<ev>:<entry>   string loader token, PX = lock ttl
 *   <ns>cache:stats                              hash   <dataset>:<counter> -> n
 *
 * `<entry>` is `<symbol>` or `<symbol>:<timeframe>`; `<dv>` is the dataset's version and `<ev>`
 * the entry's, so a bump of one timeframe of a symbol leaves its other timeframes alone.
 */
export class CacheKeys {
  readonly prefix: string;
  readonly versions: string;
  readonly stats: string;

  constructor(namespace: string) {
    this.prefix = `${namespace}cache:`;
    this.versions = `${this.prefix}versions`;
    this.stats = `${this.prefix}stats`;
  }

  /**
   * The value key of `entry` at the given version tag (`<dv>.<ev>`); the Lua scripts build the
   * same string. (`slice:`, not the `val:` of the per-symbol layout before it: a value written
   * under the old versions can never be read under the new ones, whose counters start again.)
   */
  value(dataset: DatasetName, versionTag: string, entry: string): string {
    return `${this.prefix}slice:${dataset}:${versionTag}:${entry}`;
  }

  lock(dataset: DatasetName, versionTag: string, entry: string): string {
    return `${this.prefix}lock:${dataset}:${versionTag}:${entry}`;
  }

  lru(dataset: DatasetName): string {
    return `${this.prefix}lru:${dataset}`;
  }
}

const SYMBOL = SYMBOL_PATTERN;
const CURRENCY = /^(?:[A-Z]{3}|ALL)$/;

/** Checks that `dataset` is one of {@link DATASETS} (it ends up in Redis keys). */
export function checkDataset(dataset: DatasetName): void {
  if (!(DATASETS as readonly string[]).includes(dataset)) {
    throw new InvalidCacheRequestError('dataset', `must be one of ${DATASETS.join(', ')}`, dataset);
  }
}

/** Checks that `dataset` is known and `symbol` fits it (a currency or ALL for the macro calendar). */
export function checkSymbol(dataset: DatasetName, symbol: string): void {
  checkDataset(dataset);
  if (dataset === 'macro-calendar' ? !CURRENCY.test(symbol) : !SYMBOL.test(symbol)) {
    const rule =
      dataset === 'macro-calendar'
        ? 'must be a 3-letter currency code or ALL'
        : `must match ${SYMBOL.source}`;
    throw new InvalidCacheRequestError('symbol', rule, symbol);
  }
}

/**
 * Checks a request and returns its entry id (`<symbol>` or `<symbol>:<timeframe>`). Symbols and
 * timeframes end up inside Redis keys, so anything outside the contract patterns is refused.
 */
export function entryOf(request: CacheRequest): string {
  const { dataset, symbol, timeframe } = request;
  checkSymbol(dataset, symbol);
  if (dataset === 'macro-calendar') {
    if (timeframe !== undefined) {
      throw new InvalidCacheRequestError('timeframe', 'macro-calendar takes no timeframe', timeframe);
    }
    return symbol;
  }
  if (timeframe === undefined || !(TIMEFRAMES as readonly string[]).includes(timeframe)) {
    throw new InvalidCacheRequestError(
      'timeframe',
      `${dataset} needs one of ${TIMEFRAMES.join(', ')}`,
      String(timeframe),
    );
  }
  if (dataset === 'rollups' && !(ROLLUP_TIMEFRAMES as readonly string[]).includes(timeframe)) {
    throw new InvalidCacheRequestError('timeframe', `rollups has ${ROLLUP_TIMEFRAMES.join(', ')}`, timeframe);
  }
  return `${symbol}:${timeframe}`;
}

/**
 * The entries of one symbol in a dataset: each timeframe the dataset serves (the symbol itself
 * for the macro calendar). A symbol-wide invalidation bumps each of them.
 */
export function entriesOfSymbol(dataset: DatasetName, symbol: string): string[] {
  checkSymbol(dataset, symbol);
  if (dataset === 'macro-calendar') return [symbol];
  const timeframes = dataset === 'rollups' ? ROLLUP_TIMEFRAMES : TIMEFRAMES;
  return timeframes.map((timeframe) => `${symbol}:${timeframe}`);
}
