-- Full bytes of Kafka records whose dead letter could not carry them: the envelope on the DLQ
-- topic holds a truncated payload (payloadTruncated, payloadBytes, payloadSha256) and points
-- here by (source_topic, source_partition, source_offset). Written in the transaction that moves
-- the consumer offset past the record, so a record is either here or still unconsumed.
CREATE TABLE backbone.rejected_records (
  id bigserial PRIMARY KEY,
  source_topic text NOT NULL,
  source_partition integer NOT NULL CHECK (source_partition >= 0),
  source_offset bigint NOT NULL CHECK (source_offset >= 0),
  key bytea,
  payload bytea,
  payload_bytes integer NOT NULL CHECK (payload_bytes >= 0),
  payload_sha256 text NOT NULL CHECK (payload_sha256 ~ '^[0-9a-f]{64}$'),
  error_class text NOT NULL,
  reason text NOT NULL,
  message text NOT NULL,
  rejected_at timestamptz NOT NULL DEFAULT now()
);
--> statement-breakpoint
CREATE INDEX rejected_records_source_idx ON backbone.rejected_records (source_topic, source_partition, source_offset);
--> statement-breakpoint
CREATE INDEX rejected_records_rejected_at_idx ON backbone.rejected_records (rejected_at);
