-- Schemas and the system tables every mode shares. The runner itself creates the `backbone`
-- schema and `backbone.schema_migrations` before this file runs (it must record this file).
-- Statements are separated by the drizzle-kit marker so that every client, including PGlite's
-- one-statement-per-query protocol, can run them.
CREATE SCHEMA IF NOT EXISTS market_data;
--> statement-breakpoint
CREATE TABLE backbone.ingest_runs (
  run_id text PRIMARY KEY,
  dimension text NOT NULL,
  source text NOT NULL,
  plan text,
  status text NOT NULL CHECK (status IN ('running', 'succeeded', 'partial', 'failed')),
  symbols text[] NOT NULL DEFAULT '{}',
  window_start timestamptz,
  window_end timestamptz,
  inserted bigint NOT NULL DEFAULT 0 CHECK (inserted >= 0),
  updated bigint NOT NULL DEFAULT 0 CHECK (updated >= 0),
  unchanged bigint NOT NULL DEFAULT 0 CHECK (unchanged >= 0),
  rejected bigint NOT NULL DEFAULT 0 CHECK (rejected >= 0),
  freshness_seconds double precision,
  quality jsonb,
  started_at timestamptz NOT NULL DEFAULT now(),
  finished_at timestamptz,
  error text,
  CHECK (window_start IS NULL OR window_end IS NULL OR window_start <= window_end)
);
--> statement-breakpoint
CREATE INDEX ingest_runs_dimension_started_idx ON backbone.ingest_runs (dimension, started_at DESC);
--> statement-breakpoint
CREATE TABLE backbone.outbox (
  id bigserial PRIMARY KEY,
  topic text NOT NULL,
  key text,
  payload jsonb NOT NULL,
  headers jsonb NOT NULL DEFAULT '{}'::jsonb,
  created_at timestamptz NOT NULL DEFAULT now(),
  published_at timestamptz
);
--> statement-breakpoint
-- The relay only ever scans unpublished rows in id order; published rows are history.
CREATE INDEX outbox_unpublished_idx ON backbone.outbox (id) WHERE published_at IS NULL;
--> statement-breakpoint
-- One notification per inserting statement (not per row): the relay only needs a wake-up, it
-- reads the rows itself. NOTIFY is delivered at commit, so a rolled-back event never wakes it.
CREATE FUNCTION backbone.notify_outbox() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('backbone_outbox', '');
  RETURN NULL;
END
$$;
--> statement-breakpoint
CREATE TRIGGER outbox_notify AFTER INSERT ON backbone.outbox
  FOR EACH STATEMENT EXECUTE FUNCTION backbone.notify_outbox();
--> statement-breakpoint
CREATE TABLE backbone.consumer_offsets (
  group_id text NOT NULL,
  topic text NOT NULL,
  partition integer NOT NULL CHECK (partition >= 0),
  next_offset bigint NOT NULL CHECK (next_offset >= 0),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (group_id, topic, partition)
);
--> statement-breakpoint
CREATE TABLE backbone.readiness_snapshots (
  id bigserial PRIMARY KEY,
  taken_at timestamptz NOT NULL DEFAULT now(),
  status text NOT NULL,
  report jsonb NOT NULL
);
--> statement-breakpoint
CREATE INDEX readiness_snapshots_taken_idx ON backbone.readiness_snapshots (taken_at DESC);
--> statement-breakpoint
CREATE TABLE backbone.rejected_rows (
  id bigserial PRIMARY KEY,
  run_id text NOT NULL,
  source text NOT NULL,
  reason text NOT NULL,
  message text NOT NULL,
  raw text,
  rejected_at timestamptz NOT NULL DEFAULT now()
);
--> statement-breakpoint
CREATE INDEX rejected_rows_run_idx ON backbone.rejected_rows (run_id);
