import { z } from 'zod';
import { symbolSchema, timeWindowSchema, traceContextSchema } from './primitives.ts';
import { timeframeSchema } from './timeframe.ts';
import { UnknownJobError } from './unknown-job-error.ts';

/** BullMQ queue names. */
export const QUEUES = { ingest: 'ingest', cacheWarm: 'cache-warm' } as const;
export type QueueName = (typeof QUEUES)[keyof typeof QUEUES];

/** BullMQ job names, across all queues. */
export const JOBS = { runPlan: 'run-plan', warmSymbol: 'warm-symbol', warmAll: 'warm-all' } as const;
export type AnyJobName = (typeof JOBS)[keyof typeof JOBS];

/** Which queue each job runs on. A job without a queue is a compile error. */
export const jobQueue = {
  [JOBS.runPlan]: QUEUES.ingest,
  [JOBS.warmSymbol]: QUEUES.cacheWarm,
  [JOBS.warmAll]: QUEUES.cacheWarm,
} as const satisfies Record<AnyJobName, QueueName>;

/** The job names of queue `Q` according to {@link jobQueue}. */
type JobsOnQueue<Q extends QueueName> = {
  [J in AnyJobName]: (typeof jobQueue)[J] extends Q ? J : never;
}[AnyJobName];

const identifierSchema = z.string().regex(/^[a-z0-9][a-z0-9_.-]{0,63}$/);

/**
 * `ingest` / `run-plan`: run one configured ingest plan.
 *
 * @example runPlanJobSchema.parse({ planName: 'fx-majors-1m', reason: 'scheduled' })
 */
export const runPlanJobSchema = z
  .strictObject({
    planName: identifierSchema.meta({ description: 'Name of a plan under ingest.plans in the config.' }),
    reason: z.enum(['scheduled', 'manual', 'recovery']),
    window: timeWindowSchema.optional().meta({ description: 'Override of the plan lookback.' }),
    symbols: z.array(symbolSchema).min(1).optional().meta({ description: 'Subset of the plan symbols.' }),
    traceContext: traceContextSchema.optional(),
  })
  .meta({ title: 'Job ingest/run-plan v1' });
export type RunPlanJob = z.output<typeof runPlanJobSchema>;

/**
 * `cache-warm` / `warm-symbol`: refresh the hot slices of one symbol.
 *
 * @example warmSymbolJobSchema.parse({ dataset: 'bars', symbol: 'EURUSD', timeframe: '1m' })
 */
export const warmSymbolJobSchema = z
  .strictObject({
    dataset: identifierSchema.meta({ description: 'Hot dataset name, e.g. bars.' }),
    symbol: symbolSchema,
    timeframe: timeframeSchema.optional(),
    sourceRunId: z.uuid().optional().meta({ description: 'The ingest run that made the slice stale.' }),
    traceContext: traceContextSchema.optional(),
  })
  .meta({ title: 'Job cache-warm/warm-symbol v1' });
export type WarmSymbolJob = z.output<typeof warmSymbolJobSchema>;

/**
 * `cache-warm` / `warm-all`: refresh every hot slice.
 *
 * @example warmAllJobSchema.parse({ reason: 'startup' })
 */
export const warmAllJobSchema = z
  .strictObject({ reason: z.enum(['startup', 'scheduled', 'manual', 'recovery']) })
  .meta({ title: 'Job cache-warm/warm-all v1' });
export type WarmAllJob = z.output<typeof warmAllJobSchema>;

/**
 * Queue → job name → payload schema. Typed so that a queue or a job without a schema, or a job
 * filed under the wrong queue, is a compile error.
 *
 * @example queueCatalog[QUEUES.cacheWarm][JOBS.warmAll].parse(job.data)
 */
export const queueCatalog = {
  [QUEUES.ingest]: { [JOBS.runPlan]: runPlanJobSchema },
  [QUEUES.cacheWarm]: { [JOBS.warmSymbol]: warmSymbolJobSchema, [JOBS.warmAll]: warmAllJobSchema },
} as const satisfies { [Q in QueueName]: { [J in JobsOnQueue<Q>]: z.ZodType } };

/** The job names of queue `Q`. */
export type JobName<Q extends QueueName> = keyof (typeof queueCatalog)[Q] & string;

/** The validated payload of job `J` on queue `Q`. */
export type JobPayload<Q extends QueueName, J extends JobName<Q>> = z.output<(typeof queueCatalog)[Q][J]>;
/** What a producer passes as job data for job `J` on queue `Q` (before normalisation). */
export type JobPayloadInput<Q extends QueueName, J extends JobName<Q>> = z.input<(typeof queueCatalog)[Q][J]>;

/**
 * Validates job data read from BullMQ; throws a `z.ZodError` naming every bad field, or an
 * {@link UnknownJobError} for a job name the queue does not have.
 *
 * @example const payload = parseJobPayload(QUEUES.ingest, JOBS.runPlan, job.data);
 */
export function parseJobPayload<Q extends QueueName, J extends JobName<Q>>(
  queue: Q,
  job: J,
  unvalidated: unknown,
): JobPayload<Q, J> {
  // Job names arrive as strings from Redis; the lookup is checked at runtime too.
  const jobs: Partial<Record<string, z.ZodType>> = queueCatalog[queue];
  const schema = jobs[job];
  if (schema === undefined) throw new UnknownJobError(queue, job);
  return schema.parse(unvalidated) as JobPayload<Q, J>;
}
