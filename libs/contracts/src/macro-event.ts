import { z } from 'zod';
import { sourceSchema, utcTimestampSchema } from './primitives.ts';

const observationSchema = z
  .number()
  .nullable()
  .meta({ description: 'Finite number, or null when not published.' });

/**
 * Macro event v1: one economic release (actual against forecast and previous).
 *
 * @example macroEventSchema.parse({ source: 'fred', eventId: 'CPIAUCSL:2026-10-01', ts: '2026-11-12T13:30:00Z',
 *   name: 'CPI', calendar: 'us', currency: 'USD', actual: 3.1, forecast: null, previous: 3.0,
 *   importance: 'high', revision: 0 })
 */
export const macroEventSchema = z
  .strictObject({
    source: sourceSchema,
    eventId: z
      .string()
      .min(1)
      .max(128)
      .meta({ description: 'Unique per source; with revision, identifies the record.' }),
    ts: utcTimestampSchema.meta({ description: 'Release time, ISO-8601 with a zone, normalised to UTC.' }),
    name: z.string().min(1).max(256),
    calendar: z
      .string()
      .regex(/^[a-z0-9_.-]{1,64}$/)
      .meta({ description: 'Calendar the event belongs to, e.g. us, ez.' }),
    currency: z
      .string()
      .regex(/^[A-Z]{3}$/)
      .meta({ description: 'ISO 4217 currency the event moves.' }),
    actual: observationSchema,
    forecast: observationSchema,
    previous: observationSchema,
    importance: z.enum(['low', 'medium', 'high']),
    revision: z.int().nonnegative().meta({ description: '0 for the first release, +1 per revision.' }),
  })
  .meta({ title: 'Macro event v1', description: 'One economic release.' });
export type MacroEvent = z.output<typeof macroEventSchema>;
