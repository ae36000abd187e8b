-- 1h and 1d rollups of 1m bars as continuous aggregates. Same columns and bucket semantics
-- (UTC, open time) as the plain-PostgreSQL tables; refresh policies come from the storage
-- options. materialized_only keeps both modes identical: readers see refreshed buckets only.
CREATE MATERIALIZED VIEW market_data.bars_1h
WITH (timescaledb.continuous, timescaledb.materialized_only = true) AS
SELECT symbol,
       time_bucket(INTERVAL '1 hour', ts) AS ts,
       first(open, ts) AS open,
       max(high) AS high,
       min(low) AS low,
       last(close, ts) AS close,
       sum(volume) AS volume,
       count(*) AS bar_count
FROM market_data.bars
WHERE timeframe = '1m'
GROUP BY symbol, time_bucket(INTERVAL '1 hour', ts)
WITH NO DATA;
--> statement-breakpoint
CREATE MATERIALIZED VIEW market_data.bars_1d
WITH (timescaledb.continuous, timescaledb.materialized_only = true) AS
SELECT symbol,
       time_bucket(INTERVAL '1 day', ts) AS ts,
       first(open, ts) AS open,
       max(high) AS high,
       min(low) AS low,
       last(close, ts) AS close,
       sum(volume) AS volume,
       count(*) AS bar_count
FROM market_data.bars
WHERE timeframe = '1m'
GROUP BY symbol, time_bucket(INTERVAL '1 day', ts)
WITH NO DATA;
