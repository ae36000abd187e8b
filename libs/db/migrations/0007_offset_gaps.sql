-- Offset gaps: a consumer group's stored next offset that is no longer in the partition's log
-- (the topic was deleted and recreated or truncated: the offset is beyond the log end; retention
-- deleted records the group never read: the offset is before the log start). The sink records
-- one row per gap when it finds it and, under the `fail` policy, holds the partition until an
-- operator resolves the row (`./backbone offsets resolve`), which also rewrites the stored offset.
CREATE TABLE backbone.offset_gaps (
  id bigserial PRIMARY KEY,
  group_id text NOT NULL,
  topic text NOT NULL,
  partition integer NOT NULL CHECK (partition >= 0),
  kind text NOT NULL CHECK (kind IN ('beyond_log_end', 'before_log_start')),
  stored_offset bigint NOT NULL CHECK (stored_offset >= 0),
  log_start bigint NOT NULL CHECK (log_start >= 0),
  log_end bigint NOT NULL CHECK (log_end >= log_start),
  detected_at timestamptz NOT NULL DEFAULT now(),
  resolved_at timestamptz,
  -- How it was resolved: where the stored offset was moved (`earliest`, `latest` or `offset`).
  resolution text CHECK (resolution IN ('earliest', 'latest', 'offset')),
  resolved_offset bigint CHECK (resolved_offset >= 0),
  -- `policy:earliest` / `policy:latest` for the configured policy, else the operator's name.
  resolved_by text,
  CHECK ((resolved_at IS NULL) = (resolution IS NULL)),
  CHECK ((resolved_at IS NULL) = (resolved_offset IS NULL)),
  CHECK ((resolved_at IS NULL) = (resolved_by IS NULL))
);
--> statement-breakpoint
-- At most one open gap per partition of a group: finding it again (every restart or rebalance
-- until it is resolved) finds the same row.
CREATE UNIQUE INDEX offset_gaps_unresolved_idx ON backbone.offset_gaps (group_id, topic, partition)
  WHERE resolved_at IS NULL;
