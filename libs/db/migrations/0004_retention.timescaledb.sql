-- Retention on TimescaleDB. Ticks and macro events use retention policies (drop_chunks), set
-- from the storage options by migrate(). Bars keep a retention per timeframe (1m bars for
-- weeks, daily bars for decades), which whole-chunk drops cannot express: a scheduled job runs
-- backbone.prune_bars, which deletes expired bars per timeframe (also from compressed chunks).
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
-- The signature TimescaleDB's job scheduler calls (add_job).
CREATE PROCEDURE backbone.prune_bars_job(job_id integer, config jsonb)
LANGUAGE plpgsql
AS $$
BEGIN
  PERFORM backbone.prune_bars(now());
END
$$;
