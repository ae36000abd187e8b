import type { SqlExecutor } from './sql-executor.ts';

/** One Kafka record kept whole in `backbone.rejected_records`. */
export interface RejectedRecord {
  readonly topic: string;
  readonly partition: number;
  readonly offset: bigint;
  readonly key: Buffer | null;
  readonly payload: Buffer | null;
  /** SHA-256 of `payload` (hex), as its truncated dead letter states it. */
  readonly payloadSha256: string;
  readonly errorClass: string;
  readonly reason: string;
  readonly message: string;
}

/**
 * Stores records in `backbone.rejected_records` in one statement (in the caller's transaction,
 * the one that moves the consumer offset past them); returns how many were stored.
 *
 * @example await recordRejectedRecords(client, [{ topic, partition, offset, key, payload, payloadSha256, errorClass, reason, message }]);
 */
export async function recordRejectedRecords(
  client: SqlExecutor,
  records: readonly RejectedRecord[],
): Promise<number> {
  if (records.length === 0) return 0;
  const result = await client.query<{ stored: number }>(
    `WITH stored AS (
       INSERT INTO backbone.rejected_records (source_topic, source_partition, source_offset, key, payload,
         payload_bytes, payload_sha256, error_class, reason, message)
       SELECT topic, partition, "offset", key, payload, coalesce(octet_length(payload), 0), sha256, error_class, reason, message
       FROM unnest($1::text[], $2::int[], $3::bigint[], $4::bytea[], $5::bytea[], $6::text[], $7::text[], $8::text[], $9::text[])
         AS r(topic, partition, "offset", key, payload, sha256, error_class, reason, message)
       RETURNING 1
     )
     SELECT count(*)::int AS stored FROM stored`,
    [
      records.map((record) => record.topic),
      records.map((record) => record.partition),
      records.map((record) => record.offset.toString()),
      records.map((record) => record.key),
      records.map((record) => record.payload),
      records.map((record) => record.payloadSha256),
      records.map((record) => record.errorClass),
      records.map((record) => record.reason),
      records.map((record) => record.message),
    ],
  );
  return result.rows[0]?.stored ?? 0;
}
