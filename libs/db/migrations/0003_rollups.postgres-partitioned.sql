-- 1h and 1d rollups of 1m bars as ordinary tables, refreshed for a window by
-- market_data.refresh_rollups (the worker calls it after writing bars; see refreshRollups()).
-- Same columns and bucket semantics (UTC, open time) as the TimescaleDB continuous aggregates.
CREATE TABLE market_data.bars_1h (
  symbol text NOT NULL,
  ts timestamptz NOT NULL,
  open double precision NOT NULL,
  high double precision NOT NULL,
  low double precision NOT NULL,
  close double precision NOT NULL,
  volume double precision NOT NULL,
  bar_count bigint NOT NULL,
  PRIMARY KEY (symbol, ts)
);
--> statement-breakpoint
CREATE TABLE market_data.bars_1d (LIKE market_data.bars_1h INCLUDING ALL);
--> statement-breakpoint
-- Recomputes every bucket of `unit` overlapping [from_ts, to_ts): upserts buckets whose 1m bars
-- changed and deletes buckets whose 1m bars are gone. Returns rows written and deleted.
CREATE FUNCTION market_data.refresh_rollup(rollup regclass, unit text, from_ts timestamptz, to_ts timestamptz)
RETURNS TABLE (upserted bigint, deleted bigint)
LANGUAGE plpgsql
SET timezone = 'UTC'
AS $$
DECLARE
  bucket_from timestamptz := date_trunc(unit, from_ts);
  bucket_to timestamptz := date_trunc(unit, to_ts - interval '1 microsecond') + ('1 ' || unit)::interval;
BEGIN
  EXECUTE format($sql$
    INSERT INTO %s AS r (symbol, ts, open, high, low, close, volume, bar_count)
    SELECT symbol, date_trunc(%L, ts),
           (array_agg(open ORDER BY ts))[1], max(high), min(low), (array_agg(close ORDER BY ts DESC))[1],
           sum(volume), count(*)
    FROM market_data.bars
    WHERE timeframe = '1m' AND ts >= $1 AND ts < $2
    GROUP BY symbol, date_trunc(%L, ts)
    ON CONFLICT (symbol, ts) DO UPDATE SET
      open = excluded.open, high = excluded.high, low = excluded.low, close = excluded.close,
      volume = excluded.volume, bar_count = excluded.bar_count
    WHERE (r.open, r.high, r.low, r.close, r.volume, r.bar_count)
      IS DISTINCT FROM (excluded.open, excluded.high, excluded.low, excluded.close, excluded.volume, excluded.bar_count)
  $sql$, rollup, unit, unit) USING bucket_from, bucket_to;
  GET DIAGNOSTICS upserted = ROW_COUNT;
  EXECUTE format($sql$
    DELETE FROM %s r
    WHERE r.ts >= $1 AND r.ts < $2
      AND NOT EXISTS (
        SELECT 1 FROM market_data.bars b
        WHERE b.symbol = r.symbol AND b.timeframe = '1m' AND b.ts >= r.ts AND b.ts < r.ts + $3::interval
      )
  $sql$, rollup) USING bucket_from, bucket_to, '1 ' || unit;
  GET DIAGNOSTICS deleted = ROW_COUNT;
  RETURN NEXT;
END
$$;
