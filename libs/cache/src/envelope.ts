import { z } from 'zod';

/**
 * What one value key holds: the slice plus where it came from. `maxTs` is the data's own
 * newest timestamp and `sourceRunId` the ingest run that wrote the newest row, so a reader can
 * tell how fresh the data is, not only how fresh the cache entry is.
 */
export const cacheEnvelopeSchema = z.strictObject({
  v: z.literal(1),
  dataset: z.string(),
  entry: z.string(),
  /** Newest timestamp in `data` (ISO, UTC); null for an empty slice. */
  maxTs: z.string().nullable(),
  /** Ingest run that produced the newest row, when the rows record it. */
  sourceRunId: z.string().nullable(),
  /** When the loader read the database (ISO, UTC). */
  loadedAt: z.string(),
  /** Epoch ms after which the value is stale; it may still be served within the grace window. */
  freshUntil: z.number(),
  data: z.unknown(),
});
export type CacheEnvelope<T = unknown> = Omit<z.output<typeof cacheEnvelopeSchema>, 'data'> & { data: T };

/** Parses a raw value; `undefined` when it is not a valid envelope of `dataset`/`entry` (corrupt). */
export function parseEnvelope<T>(
  raw: string,
  dataset: string,
  entry: string,
  dataSchema: z.ZodType<T>,
): CacheEnvelope<T> | undefined {
  let unvalidated: unknown;
  try {
    unvalidated = JSON.parse(raw);
  } catch {
    return undefined;
  }
  const envelope = cacheEnvelopeSchema.safeParse(unvalidated);
  if (!envelope.success || envelope.data.dataset !== dataset || envelope.data.entry !== entry)
    return undefined;
  const data = dataSchema.safeParse(envelope.data.data);
  if (!data.success) return undefined;
  return { ...envelope.data, data: data.data };
}
