import { z } from 'zod';
import { reasonCodeSchema, utcTimestampSchema } from './primitives.ts';

export const READINESS_STATUSES = ['ok', 'warn', 'fail'] as const;
export const readinessStatusSchema = z.enum(READINESS_STATUSES);
export type ReadinessStatus = z.infer<typeof readinessStatusSchema>;

/** One probed component (database, a worker's heartbeat, a consumer group's lag …). */
export const readinessComponentSchema = z.strictObject({
  name: z.string().min(1).max(128),
  group: z.string().min(1).max(64).meta({ description: 'e.g. storage, messaging, workers, freshness.' }),
  required: z.boolean().meta({ description: 'A required component that fails makes the snapshot fail.' }),
  status: readinessStatusSchema,
  reason: reasonCodeSchema.optional().meta({ description: 'Stable reason code when status is not ok.' }),
  evidence: z
    .record(z.string(), z.json())
    .meta({ description: 'The measurements the status was derived from.' }),
  checkedAt: utcTimestampSchema,
  latencyMs: z.number().nonnegative(),
});
export type ReadinessComponent = z.output<typeof readinessComponentSchema>;

/**
 * Readiness snapshot v1, value of Kafka topic `backbone.readiness.v1` and of `/report.json`.
 *
 * @example readinessSnapshotSchema.parse(unvalidatedSnapshot).status // 'ok' | 'warn' | 'fail'
 */
export const readinessSnapshotSchema = z
  .strictObject({
    id: z.uuid(),
    generatedAt: utcTimestampSchema,
    status: readinessStatusSchema,
    components: z.array(readinessComponentSchema),
  })
  .meta({
    title: 'Readiness snapshot v1',
    description: 'Readiness from live probes; value of Kafka topic backbone.readiness.v1 (key = id).',
  });
export type ReadinessSnapshot = z.output<typeof readinessSnapshotSchema>;
