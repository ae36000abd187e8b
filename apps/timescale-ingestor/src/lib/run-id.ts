import { createHash } from 'node:crypto';

/**
 * A stable UUID for one run of a job (job id + timeframe): BullMQ retries of the same job write
 * the same `ingest_runs` row instead of one row per attempt, so "failed N runs in a row" counts
 * jobs, not attempts. Formatted as a version-5-style UUID from a SHA-1 of the name.
 *
 * @example runIdFor('repeat:fx-daily:1764150000000', '1d')
 */
export function runIdFor(jobId: string, timeframe: string): string {
  const hex = createHash('sha1').update(`backbone-ingest\u0000${jobId}\u0000${timeframe}`).digest('hex');
  const variant = ((parseInt(hex.slice(16, 18), 16) & 0x3f) | 0x80).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-5${hex.slice(13, 16)}-${variant}${hex.slice(18, 20)}-${hex.slice(20, 32)}`;
}
