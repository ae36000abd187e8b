import { z } from 'zod';
import {
  reasonCodeSchema,
  sourceSchema,
  symbolSchema,
  timeWindowSchema,
  traceContextSchema,
  utcTimestampSchema,
} from './primitives.ts';
import { timeframeSchema } from './timeframe.ts';

/** The kinds of data an ingest run writes. */
export const DIMENSIONS = ['bars', 'ticks', 'macro'] as const;
export const dimensionSchema = z.enum(DIMENSIONS);
export type Dimension = z.infer<typeof dimensionSchema>;

const countSchema = z.int().nonnegative();

/**
 * Data-quality measurements of a run. The named keys are typed; further measurements may be added
 * as numbers or strings without a new contract version.
 */
export const ingestQualitySchema = z
  .object({
    coverage: z
      .number()
      .min(0)
      .max(1)
      .optional()
      .meta({ description: 'Share of expected bars present, 0..1.' }),
    gaps: countSchema.optional().meta({ description: 'Missing bars inside the window.' }),
    falseTicks: countSchema.optional().meta({ description: 'Records flagged as outliers.' }),
    stale: countSchema.optional().meta({ description: 'Symbols whose newest record is older than the SLA.' }),
  })
  .catchall(z.union([z.number(), z.string()]));
export type IngestQuality = z.output<typeof ingestQualitySchema>;

/**
 * Ingest-run event v1, value of Kafka topic `backbone.ingest-events.v1`: what one run stored.
 * `counts.rejected` equals the sum of `rejectedByReason`: every record is stored or rejected
 * with a counted reason.
 *
 * @example ingestRunEventSchema.parse(unvalidatedEvent).counts.inserted
 */
export const ingestRunEventSchema = z
  .strictObject({
    runId: z.uuid(),
    dimension: dimensionSchema,
    source: sourceSchema,
    symbols: z.array(symbolSchema),
    timeframe: timeframeSchema.optional().meta({ description: 'Set for bar runs.' }),
    window: timeWindowSchema,
    counts: z.strictObject({
      inserted: countSchema,
      updated: countSchema,
      unchanged: countSchema,
      rejected: countSchema,
    }),
    rejectedByReason: z.record(reasonCodeSchema, countSchema),
    freshnessSeconds: z
      .number()
      .nonnegative()
      .nullable()
      .meta({ description: 'Age of the newest stored record at producedAt; null when nothing is stored.' }),
    quality: ingestQualitySchema,
    producedAt: utcTimestampSchema,
    traceContext: traceContextSchema,
  })
  .refine(
    (event) => Object.values(event.rejectedByReason).reduce((sum, n) => sum + n, 0) === event.counts.rejected,
    { error: 'counts.rejected must equal the sum of rejectedByReason', path: ['counts', 'rejected'] },
  )
  .meta({
    title: 'Ingest-run event v1',
    description:
      'What one ingest run stored; value of Kafka topic backbone.ingest-events.v1 (key = runId). ' +
      'Also required (not expressible in JSON Schema): counts.rejected = sum of rejectedByReason; window.from <= window.to.',
  });
export type IngestRunEvent = z.output<typeof ingestRunEventSchema>;
