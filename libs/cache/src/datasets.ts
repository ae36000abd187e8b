import type pg from 'pg';
import { z } from 'zod';
import { InvalidCacheRequestError } from './errors/invalid-cache-request-error.ts';
import type { CacheRequest, DatasetName } from './keys.ts';

/** What a loader read from the database for one slice. */
export interface LoadedSlice<T> {
  data: T;
  /** Newest timestamp in the slice (ISO, UTC); null when the slice is empty. */
  maxTs: string | null;
  /** Ingest run that wrote the newest row, when known. */
  sourceRunId: string | null;
}

/** How one dataset is validated and loaded; the read-through client is generic over these. */
export interface DatasetDefinition<T = unknown> {
  name: DatasetName;
  /** Validates the `data` of a cached value; a value that fails is corrupt (deleted, reloaded). */
  schema: z.ZodType<T>;
  /** Reads the slice from the database. `signal` aborts when the client's load timeout passes. */
  load(request: CacheRequest, signal: AbortSignal): Promise<LoadedSlice<T>>;
}

export type DatasetRegistry = Partial<Record<DatasetName, DatasetDefinition>>;

export const cachedBarSchema = z.strictObject({
  ts: z.string(),
  open: z.number(),
  high: z.number(),
  low: z.number(),
  close: z.number(),
  volume: z.number(),
  source: z.string(),
});
export type CachedBar = z.output<typeof cachedBarSchema>;

export const cachedRollupSchema = z.strictObject({
  ts: z.string(),
  open: z.number(),
  high: z.number(),
  low: z.number(),
  close: z.number(),
  volume: z.number(),
  barCount: z.number(),
});
export type CachedRollup = z.output<typeof cachedRollupSchema>;

export const cachedMacroEventSchema = z.strictObject({
  source: z.string(),
  eventId: z.string(),
  ts: z.string(),
  name: z.string(),
  currency: z.string().nullable(),
  actual: z.number().nullable(),
  forecast: z.number().nullable(),
  previous: z.number().nullable(),
  importance: z.enum(['low', 'medium', 'high']).nullable(),
});
export type CachedMacroEvent = z.output<typeof cachedMacroEventSchema>;

/** The `redis.cache.datasets` section of the config. */
export interface MarketDatasetSettings {
  latestBar: { enabled: boolean };
  recentBars: { enabled: boolean; count: number };
  rollups: { enabled: boolean; days: number };
  macroCalendar: { enabled: boolean; days: number };
}

interface BarRecord {
  ts: Date;
  open: number;
  high: number;
  low: number;
  close: number;
  volume: number;
  source: string;
  ingest_run_id: string | null;
  ingested_at: Date;
}

const toBar = (row: BarRecord): CachedBar => ({
  ts: row.ts.toISOString(),
  open: row.open,
  high: row.high,
  low: row.low,
  close: row.close,
  volume: row.volume,
  source: row.source,
});

/** Run id of the most recently ingested row: the run that last changed the slice. */
function newestRun(rows: readonly { ingest_run_id: string | null; ingested_at: Date }[]): string | null {
  let newest: { ingest_run_id: string | null; ingested_at: Date } | undefined;
  for (const row of rows) if (newest === undefined || row.ingested_at > newest.ingested_at) newest = row;
  return newest?.ingest_run_id ?? null;
}

function timeframeOf(request: CacheRequest): string {
  if (request.timeframe === undefined) {
    throw new InvalidCacheRequestError('timeframe', `${request.dataset} needs a timeframe`, 'undefined');
  }
  return request.timeframe;
}

/**
 * The four hot datasets of the market data backbone, loaded from TimescaleDB / PostgreSQL with
 * parameterised SQL. Disabled datasets are left out (the client refuses requests for them).
 *
 * @example const datasets = createMarketDatasets(pool, config.redis.cache.datasets);
 */
export function createMarketDatasets(pool: pg.Pool, settings: MarketDatasetSettings): DatasetRegistry {
  const barColumns = 'ts, open, high, low, close, volume, source, ingest_run_id, ingested_at';
  const registry: DatasetRegistry = {};

  if (settings.latestBar.enabled) {
    const latestBar: DatasetDefinition<CachedBar | null> = {
      name: 'latest-bar',
      schema: cachedBarSchema.nullable(),
      async load(request) {
        const { rows } = await pool.query<BarRecord>(
          `SELECT ${barColumns} FROM market_data.bars WHERE symbol = $1 AND timeframe = $2 ORDER BY ts DESC LIMIT 1`,
          [request.symbol, timeframeOf(request)],
        );
        const [row] = rows;
        return row === undefined
          ? { data: null, maxTs: null, sourceRunId: null }
          : { data: toBar(row), maxTs: row.ts.toISOString(), sourceRunId: row.ingest_run_id };
      },
    };
    registry['latest-bar'] = latestBar;
  }

  if (settings.recentBars.enabled) {
    const recentBars: DatasetDefinition<CachedBar[]> = {
      name: 'recent-bars',
      schema: z.array(cachedBarSchema),
      async load(request) {
        const { rows } = await pool.query<BarRecord>(
          `SELECT ${barColumns} FROM market_data.bars WHERE symbol = $1 AND timeframe = $2 ORDER BY ts DESC LIMIT $3`,
          [request.symbol, timeframeOf(request), settings.recentBars.count],
        );
        const bars = rows.map(toBar).reverse();
        return { data: bars, maxTs: bars.at(-1)?.ts ?? null, sourceRunId: newestRun(rows) };
      },
    };
    registry['recent-bars'] = recentBars;
  }

  if (settings.rollups.enabled) {
    const rollups: DatasetDefinition<CachedRollup[]> = {
      name: 'rollups',
      schema: z.array(cachedRollupSchema),
      async load(request) {
        const table = timeframeOf(request) === '1h' ? 'bars_1h' : 'bars_1d';
        // The window ends at the symbol's newest bucket, not at now(): the slice depends only on
        // the data, so replayed or historical data is cached the same way as live data.
        const { rows } = await pool.query<{
          ts: Date;
          open: number;
          high: number;
          low: number;
          close: number;
          volume: number;
          bar_count: string;
        }>(
          `SELECT ts, open, high, low, close, volume, bar_count FROM market_data.${table}
           WHERE symbol = $1
             AND ts > (SELECT max(ts) FROM market_data.${table} WHERE symbol = $1) - make_interval(days => $2)
           ORDER BY ts`,
          [request.symbol, settings.rollups.days],
        );
        const data = rows.map((row) => ({
          ts: row.ts.toISOString(),
          open: row.open,
          high: row.high,
          low: row.low,
          close: row.close,
          volume: row.volume,
          barCount: Number(row.bar_count),
        }));
        const first = rows[0];
        let sourceRunId: string | null = null;
        if (first !== undefined) {
          const run = await pool.query<{ ingest_run_id: string | null }>(
            `SELECT ingest_run_id FROM market_data.bars
             WHERE symbol = $1 AND timeframe = '1m' AND ts >= $2 ORDER BY ingested_at DESC LIMIT 1`,
            [request.symbol, first.ts],
          );
          sourceRunId = run.rows[0]?.ingest_run_id ?? null;
        }
        return { data, maxTs: data.at(-1)?.ts ?? null, sourceRunId };
      },
    };
    registry.rollups = rollups;
  }

  if (settings.macroCalendar.enabled) {
    const macroCalendar: DatasetDefinition<CachedMacroEvent[]> = {
      name: 'macro-calendar',
      schema: z.array(cachedMacroEventSchema),
      async load(request) {
        // The one now-relative slice: "the next N days" is what a calendar means. The window is
        // computed by the database clock at load time, never placed in the key.
        const { rows } = await pool.query<{
          source: string;
          event_id: string;
          ts: Date;
          name: string;
          currency: string | null;
          actual: number | null;
          forecast: number | null;
          previous: number | null;
          importance: 'low' | 'medium' | 'high' | null;
          ingest_run_id: string | null;
          ingested_at: Date;
        }>(
          `SELECT source, event_id, ts, name, currency, actual, forecast, previous, importance,
                  ingest_run_id, ingested_at
           FROM market_data.macro_events
           WHERE ts >= now() AND ts < now() + make_interval(days => $1)
             AND ($2::text = 'ALL' OR currency = $2)
           ORDER BY ts, source, event_id`,
          [settings.macroCalendar.days, request.symbol],
        );
        const data = rows.map((row) => ({
          source: row.source,
          eventId: row.event_id,
          ts: row.ts.toISOString(),
          name: row.name,
          currency: row.currency,
          actual: row.actual,
          forecast: row.forecast,
          previous: row.previous,
          importance: row.importance,
        }));
        return { data, maxTs: data.at(-1)?.ts ?? null, sourceRunId: newestRun(rows) };
      },
    };
    registry['macro-calendar'] = macroCalendar;
  }
  return registry;
}
