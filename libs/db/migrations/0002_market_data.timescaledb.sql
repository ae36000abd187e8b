-- Market data tables on TimescaleDB: hypertables with an explicit chunk interval per table.
-- Compression settings are declared here; the compression, retention and refresh *policies*
-- come from the storage options and are reconciled by migrate() on every run.
CREATE EXTENSION IF NOT EXISTS timescaledb;
--> statement-breakpoint
CREATE TABLE market_data.bars (
  symbol text NOT NULL,
  timeframe text NOT NULL,
  ts timestamptz NOT NULL,
  open double precision NOT NULL,
  high double precision NOT NULL,
  low double precision NOT NULL,
  close double precision NOT NULL,
  volume double precision NOT NULL,
  source text NOT NULL,
  ingested_at timestamptz NOT NULL DEFAULT now(),
  ingest_run_id text,
  -- 0 when first written, +1 on every rewrite with different values. The write path returns it
  -- to tell inserts from updates (xmax, the usual trick, is not readable on partitioned tables).
  revision integer NOT NULL DEFAULT 0,
  PRIMARY KEY (symbol, timeframe, ts)
);
--> statement-breakpoint
SELECT create_hypertable('market_data.bars', by_range('ts', INTERVAL '7 days'));
--> statement-breakpoint
-- Segmenting by symbol and timeframe keeps every series in its own compressed batches; readers
-- always filter by both. Newest first matches "latest N bars" reads.
ALTER TABLE market_data.bars SET (
  timescaledb.compress,
  timescaledb.compress_segmentby = 'symbol, timeframe',
  timescaledb.compress_orderby = 'ts DESC'
);
--> statement-breakpoint
CREATE TABLE market_data.ticks (
  symbol text NOT NULL,
  ts timestamptz NOT NULL,
  sequence bigint NOT NULL,
  price double precision NOT NULL,
  size double precision NOT NULL,
  venue text,
  trade_id text,
  side text CHECK (side IN ('buy', 'sell')),
  source text NOT NULL,
  ingested_at timestamptz NOT NULL DEFAULT now(),
  ingest_run_id text,
  PRIMARY KEY (symbol, ts, sequence)
);
--> statement-breakpoint
SELECT create_hypertable('market_data.ticks', by_range('ts', INTERVAL '1 day'));
--> statement-breakpoint
ALTER TABLE market_data.ticks SET (
  timescaledb.compress,
  timescaledb.compress_segmentby = 'symbol',
  timescaledb.compress_orderby = 'ts DESC, sequence DESC'
);
--> statement-breakpoint
CREATE TABLE market_data.macro_events (
  source text NOT NULL,
  event_id text NOT NULL,
  ts timestamptz NOT NULL,
  name text NOT NULL,
  calendar text,
  currency text,
  actual double precision,
  forecast double precision,
  previous double precision,
  importance text CHECK (importance IN ('low', 'medium', 'high')),
  revision integer NOT NULL DEFAULT 0 CHECK (revision >= 0),
  ingested_at timestamptz NOT NULL DEFAULT now(),
  ingest_run_id text,
  PRIMARY KEY (source, event_id, ts)
);
--> statement-breakpoint
SELECT create_hypertable('market_data.macro_events', by_range('ts', INTERVAL '90 days'));
--> statement-breakpoint
ALTER TABLE market_data.macro_events SET (
  timescaledb.compress,
  timescaledb.compress_segmentby = 'source',
  timescaledb.compress_orderby = 'ts DESC, event_id'
);
--> statement-breakpoint
-- Same signature as the plain-PostgreSQL version, so the write path calls it in both modes:
-- hypertables create their chunks on insert, so there is nothing to do here.
CREATE FUNCTION backbone.ensure_time_partitions(parent regclass, from_ts timestamptz, to_ts timestamptz)
RETURNS SETOF text
LANGUAGE sql
AS $$ SELECT NULL::text WHERE false $$;
