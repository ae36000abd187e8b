-- Retention on plain PostgreSQL. Ticks and macro events expire by dropping whole partitions
-- (instant, no bloat). Bars keep a retention per timeframe (1m bars for weeks, daily bars for
-- decades), which no time-only partition boundary can express: expired bars are deleted by
-- backbone.prune_bars, and bar partitions that end up empty and past the shortest retention are
-- then dropped.
CREATE TABLE backbone.bar_retention (
  timeframe text PRIMARY KEY,
  retention interval NOT NULL CHECK (retention > interval '0'),
  updated_at timestamptz NOT NULL DEFAULT now()
);
--> statement-breakpoint
CREATE FUNCTION backbone.prune_bars(at_time timestamptz DEFAULT now())
RETURNS TABLE (timeframe text, deleted bigint)
LANGUAGE plpgsql
AS $$
DECLARE
  rule backbone.bar_retention;
BEGIN
  FOR rule IN SELECT * FROM backbone.bar_retention ORDER BY 1 LOOP
    DELETE FROM market_data.bars b WHERE b.timeframe = rule.timeframe AND b.ts < at_time - rule.retention;
    GET DIAGNOSTICS deleted = ROW_COUNT;
    timeframe := rule.timeframe;
    RETURN NEXT;
  END LOOP;
END
$$;
--> statement-breakpoint
CREATE FUNCTION backbone.maintain_partitions(at_time timestamptz DEFAULT now())
RETURNS TABLE (table_name text, partition_name text, action text)
LANGUAGE plpgsql
AS $$
DECLARE
  policy backbone.partition_policies;
  expired record;
  is_empty boolean;
  shortest_bar_retention interval;
BEGIN
  RETURN QUERY SELECT p.table_name, p.partition_name, 'created'::text FROM backbone.premake_partitions(at_time) p;
  PERFORM backbone.prune_bars(at_time);
  SELECT min(r.retention) INTO shortest_bar_retention FROM backbone.bar_retention r;
  FOR policy IN SELECT * FROM backbone.partition_policies ORDER BY 1 LOOP
    CONTINUE WHEN policy.retention IS NULL AND (policy.parent <> 'market_data.bars' OR shortest_bar_retention IS NULL);
    PERFORM pg_advisory_xact_lock(hashtextextended('backbone.partitions:' || policy.parent::regclass::oid, 0));
    FOR expired IN
      SELECT t.partition_schema, t.partition_name
      FROM backbone.time_partitions(policy.parent::regclass) t
      WHERE t.range_end <= at_time - coalesce(policy.retention, shortest_bar_retention)
      ORDER BY t.range_start
    LOOP
      IF policy.retention IS NULL THEN
        -- A bar partition goes only when empty. Lock it first so a writer still inserting into
        -- it finishes before the emptiness check, never after it.
        EXECUTE format('LOCK TABLE %I.%I IN ACCESS EXCLUSIVE MODE', expired.partition_schema, expired.partition_name);
        EXECUTE format('SELECT NOT EXISTS (SELECT 1 FROM %I.%I)', expired.partition_schema, expired.partition_name) INTO is_empty;
        CONTINUE WHEN NOT is_empty;
      END IF;
      EXECUTE format('DROP TABLE %I.%I', expired.partition_schema, expired.partition_name);
      table_name := policy.parent;
      partition_name := expired.partition_schema || '.' || expired.partition_name;
      action := 'dropped';
      RETURN NEXT;
    END LOOP;
  END LOOP;
END
$$;
