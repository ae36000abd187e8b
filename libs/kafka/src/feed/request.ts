import {
  DEFAULT_MAX_FUTURE_SKEW_MS,
  TOPICS,
  isTimeframe,
  nextBarOpen,
  symbolSchema,
  timeframeMs,
  type Timeframe,
} from '@backbone/contracts';
import { defaultFeedStart } from './generate.ts';

/** A feed request that cannot run as given (bad usage: exit 2). `field` names the option. */
export class FeedUsageError extends Error {
  override readonly name = 'FeedUsageError';
  readonly field: string;

  constructor(field: string, message: string) {
    super(`--${field}: ${message}`);
    this.field = field;
  }
}

/** The feed options as typed by an operator (strings, as a command line delivers them). */
export interface UnvalidatedFeedRequest {
  readonly symbols?: string | undefined;
  readonly rate?: string | undefined;
  readonly duration?: string | undefined;
  readonly timeframe?: string | undefined;
  readonly topic?: string | undefined;
  readonly seed?: string | undefined;
  readonly start?: string | undefined;
  readonly batchSize?: string | undefined;
  readonly maxOutage?: string | undefined;
  readonly unpaced?: boolean | undefined;
}

/** A validated feed run. */
export interface FeedRequest {
  readonly symbols: readonly string[];
  readonly ratePerSecond: number;
  readonly durationSeconds: number;
  /** `round(rate × duration)`: the exact number of bars produced. */
  readonly totalBars: number;
  readonly timeframe: Timeframe;
  readonly topic: string;
  readonly seed: number;
  /** Open time of every symbol's first bar. */
  readonly start: Date;
  readonly maxBatchSize: number;
  /** How long one produce request may keep failing on a broker outage before the feed gives up. */
  readonly maxOutageSeconds: number;
  /** Send the same bars as fast as the broker acknowledges (benchmarks), ignoring the rate. */
  readonly unpaced: boolean;
}

const KAFKA_TOPIC = /^[A-Za-z0-9._-]{1,249}$/;
const MAX_RATE = 10_000_000;
const MAX_DURATION_SECONDS = 7 * 86_400;
/** Long enough for a broker restart (a JVM start and log recovery take tens of seconds). */
const DEFAULT_MAX_OUTAGE_SECONDS = 120;

/**
 * Validates a feed request; every problem is a {@link FeedUsageError} naming the option. Without
 * `start`, the first bar is placed so that the last bar of every symbol opens before `now`.
 *
 * @example parseFeedRequest({ symbols: 'EURUSD,GBPUSD', rate: '100', duration: '10' }, new Date())
 */
export function parseFeedRequest(unvalidated: UnvalidatedFeedRequest, now: Date): FeedRequest {
  const symbols = parseSymbols(unvalidated.symbols);
  const ratePerSecond = positiveNumber('rate', unvalidated.rate, MAX_RATE);
  const durationSeconds = positiveNumber('duration', unvalidated.duration, MAX_DURATION_SECONDS);
  const totalBars = Math.round(ratePerSecond * durationSeconds);
  if (totalBars < 1)
    throw new FeedUsageError(
      'rate',
      `rate × duration is ${ratePerSecond * durationSeconds}: less than one bar`,
    );

  const timeframe = unvalidated.timeframe ?? '1m';
  if (!isTimeframe(timeframe)) {
    throw new FeedUsageError(
      'timeframe',
      `unknown timeframe "${timeframe}" (one of ${Object.keys(timeframeMs).join(', ')})`,
    );
  }
  const topic = unvalidated.topic ?? TOPICS.marketBars;
  if (!KAFKA_TOPIC.test(topic))
    throw new FeedUsageError('topic', 'must be 1-249 characters of A-Z a-z 0-9 . _ -');
  const seed = unvalidated.seed === undefined ? 1 : integer('seed', unvalidated.seed, 0, 0xffff_ffff);
  const maxBatchSize =
    unvalidated.batchSize === undefined ? 2000 : integer('batch-size', unvalidated.batchSize, 1, 100_000);
  const maxOutageSeconds =
    unvalidated.maxOutage === undefined
      ? DEFAULT_MAX_OUTAGE_SECONDS
      : integer('max-outage', unvalidated.maxOutage, 0, 86_400);

  const start =
    unvalidated.start === undefined
      ? defaultFeedStart(now, timeframe, totalBars, symbols.length)
      : parseStart(unvalidated.start);
  const lastOpen = lastBarOpen(start, timeframe, Math.ceil(totalBars / symbols.length));
  if (lastOpen.getTime() - now.getTime() > DEFAULT_MAX_FUTURE_SKEW_MS) {
    throw new FeedUsageError(
      'start',
      `the last bar would open at ${lastOpen.toISOString()}, in the future: receivers reject such bars; choose an earlier start`,
    );
  }
  return {
    symbols,
    ratePerSecond,
    durationSeconds,
    totalBars,
    timeframe,
    topic,
    seed,
    start,
    maxBatchSize,
    maxOutageSeconds,
    unpaced: unvalidated.unpaced ?? false,
  };
}

function parseSymbols(text: string | undefined): string[] {
  if (text === undefined || text.trim() === '') {
    throw new FeedUsageError('symbols', 'at least one symbol is needed, e.g. EURUSD,GBPUSD');
  }
  const items = text.split(',').map((item) => item.trim());
  if (items.includes('')) throw new FeedUsageError('symbols', `"${text}" has an empty entry between commas`);
  const symbols = items.map((item) => {
    const parsed = symbolSchema.safeParse(item);
    if (!parsed.success)
      throw new FeedUsageError(
        'symbols',
        `"${item}" is not a symbol (1 to 32 characters of A-Z, 0-9, _ . = -)`,
      );
    return parsed.data;
  });
  const duplicate = symbols.find((symbol, index) => symbols.indexOf(symbol) !== index);
  if (duplicate !== undefined) throw new FeedUsageError('symbols', `${duplicate} is listed twice`);
  return symbols;
}

function positiveNumber(field: string, text: string | undefined, max: number): number {
  if (text === undefined) throw new FeedUsageError(field, 'is required');
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value) || value <= 0 || value > max) {
    throw new FeedUsageError(field, `"${text}" is not a number in (0, ${max}]`);
  }
  return value;
}

function integer(field: string, text: string, min: number, max: number): number {
  const value = Number(text);
  if (!/^\d+$/.test(text.trim()) || value < min || value > max) {
    throw new FeedUsageError(field, `"${text}" is not an integer in [${min}, ${max}]`);
  }
  return value;
}

function parseStart(text: string): Date {
  const start = new Date(text);
  if (!/(Z|[+-]\d{2}:\d{2})$/.test(text) || Number.isNaN(start.getTime())) {
    throw new FeedUsageError('start', `"${text}" is not an ISO-8601 date-time with a zone (Z or ±hh:mm)`);
  }
  return start;
}

function lastBarOpen(start: Date, timeframe: Timeframe, barsPerSymbol: number): Date {
  if (timeframe !== '1mo') return new Date(start.getTime() + (barsPerSymbol - 1) * timeframeMs[timeframe]);
  let open = start;
  for (let i = 1; i < barsPerSymbol; i += 1) open = nextBarOpen(open, timeframe);
  return open;
}
