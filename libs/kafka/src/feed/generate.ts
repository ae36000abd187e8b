import { alignTimestamp, nextBarOpen, timeframeMs, type BarInput, type Timeframe } from '@backbone/contracts';

/** One synthetic bar in the exact `market.bars.v1` wire shape. */
export type FeedBar = BarInput & { readonly source: string };

export interface BarFeedOptions {
  /** Canonical symbols (upper case); bars go to them round-robin. */
  readonly symbols: readonly string[];
  readonly timeframe: Timeframe;
  /** Same seed, symbols, timeframe and start: the same bars, bit for bit. */
  readonly seed: number;
  /** Open time of every symbol's first bar; aligned down to the timeframe. */
  readonly start: Date;
  /** The `source` field (default `feed`). */
  readonly source?: string;
}

/** A deterministic, endless source of valid bars. */
export interface BarFeed {
  /** The next bar: symbols in turn, each symbol's ts one timeframe after its previous bar. */
  next(): FeedBar;
  /** Bars generated so far. */
  readonly generated: number;
  /** The ts of the last bar generated per symbol (absent for a symbol with no bar yet). */
  lastTsBySymbol(): Record<string, string>;
}

/** Per-bar volatility of the log price: small enough that prices stay sane over millions of bars. */
const SIGMA = 0.0004;
const PRICE_DECIMALS = 1e6;
const MIN_PRICE = 1 / PRICE_DECIMALS;

interface SymbolState {
  readonly symbol: string;
  nextTs: Date;
  close: number;
  lastTs: string | undefined;
}

/**
 * A random-walk bar generator. Every bar is valid by construction: ts aligned and strictly
 * increasing per symbol, `low <= min(open, close) <= max(open, close) <= high`, prices positive
 * with 6 decimals, volume a non-negative integer. Open is the previous close.
 *
 * @example
 * const feed = createBarFeed({ symbols: ['EURUSD'], timeframe: '1m', seed: 1, start: new Date('2026-01-01T00:00:00Z') });
 * feed.next(); // { symbol: 'EURUSD', timeframe: '1m', ts: '2026-01-01T00:00:00Z', open: …, source: 'feed' }
 */
export function createBarFeed(options: BarFeedOptions): BarFeed {
  if (options.symbols.length === 0) throw new RangeError('createBarFeed: at least one symbol is needed');
  const random = mulberry32(options.seed);
  const source = options.source ?? 'feed';
  const first = alignTimestamp(options.start, options.timeframe);
  const states: SymbolState[] = options.symbols.map((symbol) => ({
    symbol,
    nextTs: first,
    // A per-symbol starting level between 0.5 and 200, so symbols do not move in lock step.
    close: roundPrice(0.5 + random() * 199.5),
    lastTs: undefined,
  }));
  let generated = 0;

  const gaussian = (): number => {
    // Box-Muller; 1 - random() keeps the logarithm's argument in (0, 1].
    const u = 1 - random();
    const v = random();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  };

  return {
    next(): FeedBar {
      const state = states[generated % states.length] as SymbolState;
      generated += 1;
      const open = state.close;
      const close = Math.max(MIN_PRICE, roundPrice(open * Math.exp(SIGMA * gaussian())));
      // Rounding after widening could cross the body again; max/min restore the invariant.
      const high = Math.max(
        open,
        close,
        roundPrice(Math.max(open, close) * (1 + Math.abs(gaussian()) * SIGMA)),
      );
      const low = Math.max(
        MIN_PRICE,
        Math.min(open, close, roundPrice(Math.min(open, close) * (1 - Math.abs(gaussian()) * SIGMA))),
      );
      const ts = formatTs(state.nextTs);
      state.nextTs = nextBarOpen(state.nextTs, options.timeframe);
      state.close = close;
      state.lastTs = ts;
      return {
        symbol: state.symbol,
        timeframe: options.timeframe,
        ts,
        open,
        high,
        low,
        close,
        volume: Math.floor(random() * 5000),
        source,
      };
    },
    get generated() {
      return generated;
    },
    lastTsBySymbol() {
      const last: Record<string, string> = {};
      for (const state of states) if (state.lastTs !== undefined) last[state.symbol] = state.lastTs;
      return last;
    },
  };
}

/**
 * The default first ts for a feed of `totalBars` over `symbolCount` symbols: early enough that the
 * LAST bar of every symbol opens at least one timeframe before `now`, so no bar is ever "in the
 * future" for a receiver (the contracts reject those), whatever rate the feed runs at.
 *
 * @example defaultFeedStart(new Date('2026-11-26T15:34:12Z'), '1m', 120, 2) // 2026-11-26T14:34:00Z
 */
export function defaultFeedStart(
  now: Date,
  timeframe: Timeframe,
  totalBars: number,
  symbolCount: number,
): Date {
  const barsPerSymbol = Math.ceil(totalBars / Math.max(1, symbolCount));
  const current = alignTimestamp(now, timeframe);
  if (timeframe === '1mo') {
    return new Date(Date.UTC(current.getUTCFullYear(), current.getUTCMonth() - barsPerSymbol, 1));
  }
  // Whole multiples of the step keep 1wk on Mondays and 1d on midnight.
  return new Date(current.getTime() - barsPerSymbol * timeframeMs[timeframe]);
}

/** The wire form of an aligned open time: `2026-11-26T15:30:00Z` (whole seconds, as in the contract). */
function formatTs(ts: Date): string {
  return ts.toISOString().replace('.000Z', 'Z');
}

function roundPrice(price: number): number {
  return Math.round(price * PRICE_DECIMALS) / PRICE_DECIMALS;
}

/** A small, well-known seeded PRNG (32-bit state): reproducible bars without a dependency. */
function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}
