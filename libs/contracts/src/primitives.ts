import { z } from 'zod';

/**
 * Canonical symbol: upper-case ASCII letters, digits and `_ . = -`, 1 to 32 characters.
 * Nothing else can reach a key, a header or a SQL parameter as a symbol.
 */
export const SYMBOL_PATTERN = /^[A-Z0-9_.=-]{1,32}$/;

// Input may be lower-case: it is checked against the ASCII-only, case-insensitive form of
// SYMBOL_PATTERN and then upper-cased. Restricting to ASCII first matters: toUpperCase() on
// characters such as 'ß' or 'ı' would otherwise produce strings of a different shape.
const SYMBOL_INPUT_PATTERN = /^[A-Za-z0-9_.=-]{1,32}$/;

/** @example symbolSchema.parse('eurusd') // 'EURUSD' */
export const symbolSchema = z
  .string()
  .regex(SYMBOL_INPUT_PATTERN, { error: 'must be 1 to 32 characters of A-Z, 0-9, _ . = -' })
  .toUpperCase()
  .meta({
    description: 'Instrument symbol; lower-case input is upper-cased. Canonical form ^[A-Z0-9_.=-]{1,32}$.',
  });

/** @example sourceSchema.parse('yahoo') // 'yahoo' */
export const sourceSchema = z
  .string()
  .regex(/^[A-Za-z0-9_.:-]{1,64}$/, { error: 'must be 1 to 64 characters of A-Z, a-z, 0-9, _ . : -' })
  .meta({ description: 'Producer of the record (provider or feed name), ^[A-Za-z0-9_.:-]{1,64}$.' });

/**
 * An ISO-8601 timestamp that names its zone (`Z` or `±hh:mm`), normalised to UTC
 * (`Date#toISOString()` form, millisecond precision).
 *
 * @example utcTimestampSchema.parse('2026-11-26T17:30:00+02:00') // '2026-11-26T15:30:00.000Z'
 */
export const utcTimestampSchema = z.iso
  .datetime({ offset: true, error: 'must be an ISO-8601 date-time with a zone (Z or ±hh:mm)' })
  .transform((text) => new Date(text).toISOString())
  .meta({ description: 'ISO-8601 date-time with a zone (Z or ±hh:mm); normalised to UTC.' });

/** A closed-open time range `[from, to)`; `from` must not be after `to`. */
export const timeWindowSchema = z
  .strictObject({ from: utcTimestampSchema, to: utcTimestampSchema })
  .refine((window) => window.from <= window.to, { error: 'from must not be after to', path: ['to'] })
  .meta({ description: 'Time range [from, to) in UTC; from <= to (not expressible in JSON Schema).' });
export type TimeWindow = z.output<typeof timeWindowSchema>;

/**
 * W3C trace context carried across Kafka and BullMQ hops.
 *
 * @example traceContextSchema.parse({ traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' })
 */
export const traceContextSchema = z
  .strictObject({
    traceparent: z.string().regex(/^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/),
    tracestate: z.string().max(512).optional(),
  })
  .meta({ description: 'W3C trace context (traceparent, optional tracestate).' });
export type TraceContext = z.output<typeof traceContextSchema>;

/** A stable machine-readable reason code such as `ts_unaligned`. */
export const reasonCodeSchema = z.string().regex(/^[a-z][a-z0-9_]{0,63}$/);
