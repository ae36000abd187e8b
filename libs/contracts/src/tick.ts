import { z } from 'zod';
import { sourceSchema, symbolSchema, utcTimestampSchema } from './primitives.ts';

/**
 * Tick v1: one trade print.
 *
 * @example tickSchema.parse({ symbol: 'EURUSD', ts: '2026-11-26T15:30:00.123Z', sequence: 1, price: 1.0841,
 *   size: 100000, venue: 'ebs', tradeId: 't-1', side: 'buy', source: 'feed' })
 */
export const tickSchema = z
  .strictObject({
    symbol: symbolSchema,
    ts: utcTimestampSchema,
    sequence: z.int().nonnegative().meta({ description: 'Per-venue sequence number, increasing.' }),
    price: z.number().positive(),
    size: z.number().nonnegative(),
    venue: z.string().regex(/^[A-Za-z0-9_.:-]{1,64}$/),
    tradeId: z.string().min(1).max(128),
    side: z
      .enum(['buy', 'sell', 'unknown'])
      .meta({ description: 'Aggressor side, unknown when the venue does not say.' }),
    source: sourceSchema,
  })
  .meta({
    title: 'Tick v1',
    description: 'One trade print. ts is normalised to UTC with millisecond precision.',
  });
export type Tick = z.output<typeof tickSchema>;
