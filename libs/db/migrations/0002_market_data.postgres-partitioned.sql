-- Market data tables on plain PostgreSQL: native range partitioning by ts. Partitions are
-- created ahead of time (backbone.premake_partitions), on demand for backfills
-- (backbone.ensure_time_partitions, called by the write path before it inserts), and dropped
-- when they fall out of retention (backbone.maintain_partitions). Prices are double precision:
-- see docs/database.md for why.
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
) PARTITION BY RANGE (ts);
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
) PARTITION BY RANGE (ts);
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
) PARTITION BY RANGE (ts);
--> statement-breakpoint
-- One row per partitioned table. migrate() overwrites width, premake and retention from the
-- storage options on every run, so config changes apply without a new migration. Bars have no
-- whole-partition retention: their retention is per timeframe (backbone.bar_retention).
CREATE TABLE backbone.partition_policies (
  parent text PRIMARY KEY CHECK (parent IN ('market_data.bars', 'market_data.ticks', 'market_data.macro_events')),
  width interval NOT NULL CHECK (width >= interval '1 day'),
  premake integer NOT NULL CHECK (premake BETWEEN 0 AND 1000),
  retention interval CHECK (retention > interval '0'),
  updated_at timestamptz NOT NULL DEFAULT now()
);
--> statement-breakpoint
INSERT INTO backbone.partition_policies (parent, width, premake, retention) VALUES
  ('market_data.bars', INTERVAL '7 days', 4, NULL),
  ('market_data.ticks', INTERVAL '1 day', 4, NULL),
  ('market_data.macro_events', INTERVAL '90 days', 4, NULL);
--> statement-breakpoint
-- The partitions of a table with their bounds. PostgreSQL 15 exposes bounds only as text
-- (pg_get_expr), so the function pins timezone and datestyle: the text it parses is then
-- always '2026-01-01 00:00:00+00'.
CREATE FUNCTION backbone.time_partitions(parent regclass)
RETURNS TABLE (partition_schema name, partition_name name, range_start timestamptz, range_end timestamptz)
LANGUAGE sql STABLE
SET timezone = 'UTC'
SET datestyle = 'ISO, YMD'
AS $$
  SELECT n.nspname, c.relname, bounds[1]::timestamptz, bounds[2]::timestamptz
  FROM pg_inherits i
  JOIN pg_class c ON c.oid = i.inhrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace
  CROSS JOIN LATERAL regexp_match(pg_get_expr(c.relpartbound, c.oid), 'FROM \(''([^'']+)''\) TO \(''([^'']+)''\)') AS bounds
  WHERE i.inhparent = time_partitions.parent
$$;
--> statement-breakpoint
-- Creates the partitions missing for [from_ts, to_ts] and returns their names. Partitions are
-- aligned like TimescaleDB chunks (date_bin from Monday 2000-01-03 UTC) and clipped against
-- existing ones, so changing the width never produces overlapping ranges. Creating a partition
-- locks the parent exclusively, so the fast path (everything already covered) takes no lock at
-- all, and creators serialise on an advisory lock per parent instead of failing on each other.
CREATE FUNCTION backbone.ensure_time_partitions(parent regclass, from_ts timestamptz, to_ts timestamptz)
RETURNS SETOF text
LANGUAGE plpgsql
SET timezone = 'UTC'
AS $$
DECLARE
  policy backbone.partition_policies;
  origin constant timestamptz := '2000-01-03 00:00:00+00';
  pos timestamptz := from_ts;
  covered_until timestamptz;
  start_at timestamptz;
  end_at timestamptz;
  locked boolean := false;
  parent_schema name;
  parent_name name;
  child_name text;
BEGIN
  IF from_ts IS NULL OR to_ts IS NULL THEN
    RETURN;
  END IF;
  SELECT * INTO policy FROM backbone.partition_policies p WHERE p.parent::regclass = ensure_time_partitions.parent;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'no partition policy for %', ensure_time_partitions.parent;
  END IF;
  SELECT n.nspname, c.relname INTO parent_schema, parent_name
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE c.oid = ensure_time_partitions.parent;

  WHILE pos <= to_ts LOOP
    SELECT t.range_end INTO covered_until
    FROM backbone.time_partitions(ensure_time_partitions.parent) t
    WHERE t.range_start <= pos AND pos < t.range_end;
    IF FOUND THEN
      pos := covered_until;
      CONTINUE;
    END IF;
    IF NOT locked THEN
      PERFORM pg_advisory_xact_lock(hashtextextended('backbone.partitions:' || ensure_time_partitions.parent::oid, 0));
      locked := true;
      CONTINUE; -- re-check: another transaction may have created it while we waited
    END IF;
    SELECT greatest(date_bin(policy.width, pos, origin), max(t.range_end)) INTO start_at
    FROM backbone.time_partitions(ensure_time_partitions.parent) t
    WHERE t.range_end <= pos;
    SELECT least(date_bin(policy.width, pos, origin) + policy.width, min(t.range_start)) INTO end_at
    FROM backbone.time_partitions(ensure_time_partitions.parent) t
    WHERE t.range_start > pos;
    child_name := parent_name || '_p' || to_char(start_at, 'YYYYMMDD');
    EXECUTE format('CREATE TABLE %I.%I PARTITION OF %I.%I FOR VALUES FROM (%L) TO (%L)',
      parent_schema, child_name, parent_schema, parent_name, start_at, end_at);
    RETURN NEXT parent_schema || '.' || child_name;
    pos := end_at;
  END LOOP;
END
$$;
--> statement-breakpoint
-- Creates, for every policy, the partitions from at_time up to `premake` widths ahead.
CREATE FUNCTION backbone.premake_partitions(at_time timestamptz DEFAULT now())
RETURNS TABLE (table_name text, partition_name text)
LANGUAGE plpgsql
AS $$
DECLARE
  policy backbone.partition_policies;
BEGIN
  FOR policy IN SELECT * FROM backbone.partition_policies ORDER BY 1 LOOP
    RETURN QUERY
      SELECT policy.parent, created
      FROM backbone.ensure_time_partitions(policy.parent::regclass, at_time, at_time + policy.premake * policy.width) AS created;
  END LOOP;
END
$$;
