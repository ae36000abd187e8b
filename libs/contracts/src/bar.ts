import { z } from 'zod';
import { sourceSchema, symbolSchema, utcTimestampSchema } from './primitives.ts';
import { isAligned, timeframeSchema } from './timeframe.ts';

/**
 * Why a bar was rejected. Stable: ingest counts rejections per reason, the stream bridge puts the
 * reason in dead-letter headers, dashboards group by it. Add codes; never rename or reuse one.
 */
export const BAR_REJECT_REASONS = [
  'not_json',
  'shape_invalid',
  'symbol_invalid',
  'timeframe_unknown',
  'ts_invalid',
  'ts_unaligned',
  'ts_in_future',
  'ts_out_of_range',
  'price_not_finite',
  'price_not_positive',
  'ohlc_inconsistent',
  'volume_not_finite',
  'volume_negative',
  'source_invalid',
] as const;
export type BarRejectReason = (typeof BAR_REJECT_REASONS)[number];

/** How far a bar's open time may lie ahead of the receiver's clock by default: 5 minutes. */
export const DEFAULT_MAX_FUTURE_SKEW_MS = 5 * 60_000;

/**
 * The earliest bar open time accepted by default: 1970-01-01T00:00:00Z. The database's
 * timestamptz cannot hold year 0 (a bar there failed its whole slice), and in plain-PostgreSQL
 * mode every week between a stray old bar and today would get a partition.
 */
export const DEFAULT_MIN_BAR_TIMESTAMP = '1970-01-01T00:00:00Z';

export interface BarRuleOptions {
  /** The receiver's clock; injected so tests and replays decide what "now" is. */
  now: () => Date;
  /** A bar whose `ts` is more than this many milliseconds after `now()` is `ts_in_future`. */
  maxFutureSkewMs: number;
  /**
   * A bar whose `ts` is before this instant (ms since the epoch) is `ts_out_of_range`;
   * {@link DEFAULT_MIN_BAR_TIMESTAMP} when absent.
   */
  minTimestampMs?: number;
}

/** The settings the bar rules are built from (`ingest.*` of the system config). */
export interface BarRuleSettings {
  /** `ingest.maxFutureSkewSeconds`. */
  readonly maxFutureSkewSeconds: number;
  /** `ingest.minBarTimestamp`: ISO-8601 with a zone. */
  readonly minBarTimestamp: string;
}

/**
 * The one way every receiver (stream bridge, ingestor, CLI) turns its settings into bar rules,
 * so a bar accepted by one is accepted by all. Build it once per process: the schema made from
 * the returned object is cached by identity.
 *
 * @example const rules = barRuleOptionsFromSettings(config.ingest);
 */
export function barRuleOptionsFromSettings(
  settings: BarRuleSettings,
  now: () => Date = () => new Date(),
): BarRuleOptions {
  const minTimestampMs = Date.parse(settings.minBarTimestamp);
  if (Number.isNaN(minTimestampMs)) {
    throw new RangeError(`minBarTimestamp: ${settings.minBarTimestamp} is not an ISO-8601 date-time`);
  }
  return { now, maxFutureSkewMs: settings.maxFutureSkewSeconds * 1000, minTimestampMs };
}

const DEFAULT_MIN_TIMESTAMP_MS = Date.parse(DEFAULT_MIN_BAR_TIMESTAMP);

const priceSchema = z.number().positive();

/**
 * Builds the market bar v1 schema (wire format of Kafka topic `market.bars.v1`). The clock and
 * the allowed future skew are injected; use {@link barSchema} for the defaults.
 *
 * @example createBarSchema({ now: () => new Date('2026-11-26T15:31:00Z'), maxFutureSkewMs: 0 })
 */
export function createBarSchema(options: BarRuleOptions) {
  return z
    .strictObject({
      symbol: symbolSchema,
      timeframe: timeframeSchema,
      ts: utcTimestampSchema.meta({
        description:
          'Bar open time: ISO-8601 with a zone, normalised to UTC. Must be aligned to the timeframe ' +
          '(1d: 00:00 UTC, 1wk: Monday 00:00 UTC, 1mo: the 1st 00:00 UTC) and at most the allowed ' +
          "skew in the future and not before the receiver's earliest accepted time (default " +
          `${DEFAULT_MIN_BAR_TIMESTAMP}; all checked by the receiver, not expressible in JSON Schema).`,
      }),
      open: priceSchema,
      high: priceSchema,
      low: priceSchema,
      close: priceSchema,
      volume: z.number().nonnegative(),
      source: sourceSchema,
    })
    .check((ctx) => {
      const bar = ctx.value;
      const ts = new Date(bar.ts);
      if (!isAligned(ts, bar.timeframe)) {
        ctx.issues.push(
          barIssue(bar, 'ts_unaligned', ['ts'], `${bar.ts} is not the open time of a ${bar.timeframe} bar`),
        );
      }
      const minTimestampMs = options.minTimestampMs ?? DEFAULT_MIN_TIMESTAMP_MS;
      if (ts.getTime() < minTimestampMs) {
        ctx.issues.push(
          barIssue(
            bar,
            'ts_out_of_range',
            ['ts'],
            `${bar.ts} is before the earliest accepted bar time ${new Date(minTimestampMs).toISOString()}`,
          ),
        );
      }
      const aheadMs = ts.getTime() - options.now().getTime();
      if (aheadMs > options.maxFutureSkewMs) {
        ctx.issues.push(
          barIssue(
            bar,
            'ts_in_future',
            ['ts'],
            `${bar.ts} is ${aheadMs} ms in the future (at most ${options.maxFutureSkewMs} ms allowed)`,
          ),
        );
      }
      const bodyLow = Math.min(bar.open, bar.close);
      const bodyHigh = Math.max(bar.open, bar.close);
      if (bar.low > bodyLow) {
        ctx.issues.push(
          barIssue(bar, 'ohlc_inconsistent', ['low'], `${bar.low} is above min(open, close) = ${bodyLow}`),
        );
      }
      if (bar.high < bodyHigh) {
        ctx.issues.push(
          barIssue(bar, 'ohlc_inconsistent', ['high'], `${bar.high} is below max(open, close) = ${bodyHigh}`),
        );
      }
    })
    .meta({
      title: 'Market bar v1',
      description:
        'One OHLCV bar, the value of Kafka topic market.bars.v1 (key = symbol, UTF-8 JSON). ' +
        'Also required (not expressible in JSON Schema): low <= min(open, close) <= max(open, close) <= high.',
    });
}

function barIssue(input: unknown, reason: BarRejectReason, path: string[], message: string) {
  return { code: 'custom' as const, input, path, message, params: { reason } };
}

export type BarSchema = ReturnType<typeof createBarSchema>;
/** A bar that passed every rule: symbol upper-cased, ts in UTC. */
export type Bar = z.output<BarSchema>;
/** What a producer sends (before normalisation). */
export type BarInput = z.input<BarSchema>;

/** The bar schema with the system clock and {@link DEFAULT_MAX_FUTURE_SKEW_MS}. */
export const barSchema: BarSchema = createBarSchema({
  now: () => new Date(),
  maxFutureSkewMs: DEFAULT_MAX_FUTURE_SKEW_MS,
});

export type BarParseResult =
  | { ok: true; bar: Bar }
  | {
      ok: false;
      reason: BarRejectReason;
      /** Human-readable, names the field; never echoes the rejected value of a free-text field. */
      message: string;
      /** Dotted path of the offending field, '' for the message as a whole. */
      path: string;
    };

// parseBar is called per record on hot paths; a schema is built once per options object.
const schemasByOptions = new WeakMap<BarRuleOptions, BarSchema>();

function schemaFor(options: BarRuleOptions | undefined): BarSchema {
  if (options === undefined) return barSchema;
  let schema = schemasByOptions.get(options);
  if (schema === undefined) {
    schema = createBarSchema(options);
    schemasByOptions.set(options, schema);
  }
  return schema;
}

/**
 * Validates one bar and says why it was rejected. Pass the same `options` object on every call
 * (the schema built from it is reused).
 *
 * @example
 *   const result = parseBar(unvalidatedBar);
 *   if (!result.ok) rejected[result.reason] += 1;
 */
export function parseBar(unvalidated: unknown, options?: BarRuleOptions): BarParseResult {
  const parsed = schemaFor(options).safeParse(unvalidated, { reportInput: true });
  if (parsed.success) return { ok: true, bar: parsed.data };
  // Several rules may be broken; the first issue (in field order, then cross-field rules) is the reason.
  const [issue] = parsed.error.issues;
  if (issue === undefined) return { ok: false, reason: 'shape_invalid', message: 'bar: invalid', path: '' };
  const path = issue.path.map(String).join('.');
  return {
    ok: false,
    reason: reasonFor(issue),
    message: `${path === '' ? 'bar' : path}: ${issue.message}`,
    path,
  };
}

function reasonFor(issue: z.core.$ZodIssue): BarRejectReason {
  if (issue.code === 'custom')
    return (issue.params?.['reason'] as BarRejectReason | undefined) ?? 'shape_invalid';
  // Missing fields and wrong JSON types are shape problems, whatever the field.
  const wrongType = issue.code === 'invalid_type' && typeof issue.input !== 'number';
  if (wrongType || issue.code === 'unrecognized_keys') return 'shape_invalid';
  switch (issue.path[0]) {
    case 'symbol':
      return 'symbol_invalid';
    case 'timeframe':
      return 'timeframe_unknown';
    case 'ts':
      return 'ts_invalid';
    case 'open':
    case 'high':
    case 'low':
    case 'close':
      return issue.code === 'invalid_type' ? 'price_not_finite' : 'price_not_positive';
    case 'volume':
      return issue.code === 'invalid_type' ? 'volume_not_finite' : 'volume_negative';
    case 'source':
      return 'source_invalid';
    default:
      return 'shape_invalid';
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Decodes and validates the value of one `market.bars.v1` message (UTF-8 JSON). A tombstone,
 * invalid UTF-8 or non-JSON is `not_json`.
 *
 * @example decodeBarMessage(message.value, barRules)
 */
export function decodeBarMessage(value: Buffer | null, options?: BarRuleOptions): BarParseResult {
  if (value === null)
    return { ok: false, reason: 'not_json', message: 'value: empty (tombstone) message', path: '' };
  let text: string;
  try {
    text = utf8.decode(value);
  } catch {
    return { ok: false, reason: 'not_json', message: 'value: not valid UTF-8', path: '' };
  }
  let unvalidated: unknown;
  try {
    unvalidated = JSON.parse(text);
  } catch {
    // The parser's own message quotes the payload; the dead-letter envelope keeps the payload instead.
    return { ok: false, reason: 'not_json', message: 'value: not JSON', path: '' };
  }
  return parseBar(unvalidated, options);
}

/**
 * The Kafka message for a bar: key = symbol, value = UTF-8 JSON of the validated bar.
 *
 * @example await producer.send({ topic: TOPICS.marketBars, messages: [encodeBarMessage(bar)] })
 */
export function encodeBarMessage(bar: Bar): { key: Buffer; value: Buffer } {
  const wire = {
    symbol: bar.symbol,
    timeframe: bar.timeframe,
    ts: bar.ts,
    open: bar.open,
    high: bar.high,
    low: bar.low,
    close: bar.close,
    volume: bar.volume,
    source: bar.source,
  } satisfies BarInput;
  return { key: Buffer.from(bar.symbol, 'utf8'), value: Buffer.from(JSON.stringify(wire), 'utf8') };
}
