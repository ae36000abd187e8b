import { isTimeframe, TIMEFRAMES } from '@backbone/contracts';
import { InvalidStorageOptionsError } from './errors.ts';

/**
 * Retention, chunking and compression of the market data tables. The shape is the `storage`
 * section of the backbone config, so `config.storage` can be passed as it is.
 */
export interface StorageOptions {
  /** How long rows are kept, in days. Bars per timeframe; timeframes not listed are kept forever. */
  retentionDays: { bars: Record<string, number>; ticks: number; macroEvents: number };
  /** Chunk width (TimescaleDB) or partition width (plain PostgreSQL) per table, in days. */
  chunkIntervalDays: { bars: number; ticks: number; macroEvents: number };
  /** Chunks older than this are compressed (TimescaleDB only). */
  compressAfterDays: number;
  /** Future partitions kept created ahead of time (plain PostgreSQL only). */
  partitionsAhead: number;
  /** Refresh policies of the 1h and 1d rollups (TimescaleDB continuous aggregates). */
  rollups: { hourly: RollupRefreshPolicy; daily: RollupRefreshPolicy };
}

/** A continuous-aggregate refresh policy: refresh [now - startOffset, now - endOffset] every schedule. */
export interface RollupRefreshPolicy {
  startOffsetHours: number;
  endOffsetHours: number;
  scheduleMinutes: number;
}

/** Any part of {@link StorageOptions}; the rest comes from {@link DEFAULT_STORAGE_OPTIONS}. */
export interface StorageOptionsInput {
  retentionDays?: Partial<StorageOptions['retentionDays']>;
  chunkIntervalDays?: Partial<StorageOptions['chunkIntervalDays']>;
  compressAfterDays?: number;
  partitionsAhead?: number;
  rollups?: { hourly?: Partial<RollupRefreshPolicy>; daily?: Partial<RollupRefreshPolicy> };
}

/** The defaults of the config's `storage` section. */
export const DEFAULT_STORAGE_OPTIONS: StorageOptions = {
  retentionDays: {
    bars: { '1m': 30, '5m': 90, '15m': 180, '1h': 730, '1d': 36_500 },
    ticks: 7,
    macroEvents: 3650,
  },
  chunkIntervalDays: { bars: 7, ticks: 1, macroEvents: 90 },
  compressAfterDays: 7,
  partitionsAhead: 4,
  rollups: {
    hourly: { startOffsetHours: 72, endOffsetHours: 1, scheduleMinutes: 15 },
    daily: { startOffsetHours: 24 * 7, endOffsetHours: 1, scheduleMinutes: 60 },
  },
};

/**
 * Fills in defaults and checks every number, naming the bad key path.
 *
 * @example resolveStorageOptions({ retentionDays: { ticks: 3 } }).retentionDays.ticks // 3
 */
export function resolveStorageOptions(input: StorageOptionsInput = {}): StorageOptions {
  const d = DEFAULT_STORAGE_OPTIONS;
  const options: StorageOptions = {
    retentionDays: {
      bars: { ...d.retentionDays.bars, ...input.retentionDays?.bars },
      ticks: input.retentionDays?.ticks ?? d.retentionDays.ticks,
      macroEvents: input.retentionDays?.macroEvents ?? d.retentionDays.macroEvents,
    },
    chunkIntervalDays: { ...d.chunkIntervalDays, ...input.chunkIntervalDays },
    compressAfterDays: input.compressAfterDays ?? d.compressAfterDays,
    partitionsAhead: input.partitionsAhead ?? d.partitionsAhead,
    rollups: {
      hourly: { ...d.rollups.hourly, ...input.rollups?.hourly },
      daily: { ...d.rollups.daily, ...input.rollups?.daily },
    },
  };
  for (const [timeframe, days] of Object.entries(options.retentionDays.bars)) {
    if (!isTimeframe(timeframe)) {
      throw new InvalidStorageOptionsError(
        `retentionDays.bars.${timeframe}`,
        `is not one of the bar contract's timeframes (${TIMEFRAMES.join(', ')})`,
      );
    }
    requireWhole(`retentionDays.bars.${timeframe}`, days, 1, 1_000_000);
  }
  requireWhole('retentionDays.ticks', options.retentionDays.ticks, 1, 1_000_000);
  requireWhole('retentionDays.macroEvents', options.retentionDays.macroEvents, 1, 1_000_000);
  for (const [table, days] of Object.entries(options.chunkIntervalDays)) {
    requireWhole(`chunkIntervalDays.${table}`, days, 1, 3660);
  }
  requireWhole('compressAfterDays', options.compressAfterDays, 1, 1_000_000);
  requireWhole('partitionsAhead', options.partitionsAhead, 0, 1000);
  for (const [name, policy] of Object.entries(options.rollups)) {
    const bucketHours = name === 'hourly' ? 1 : 24;
    requireWhole(`rollups.${name}.endOffsetHours`, policy.endOffsetHours, 0, 1_000_000);
    requireWhole(`rollups.${name}.startOffsetHours`, policy.startOffsetHours, 1, 1_000_000);
    requireWhole(`rollups.${name}.scheduleMinutes`, policy.scheduleMinutes, 1, 1_000_000);
    // TimescaleDB refuses a refresh window narrower than two buckets.
    if (policy.startOffsetHours - policy.endOffsetHours < 2 * bucketHours) {
      throw new InvalidStorageOptionsError(
        `rollups.${name}.startOffsetHours`,
        `must exceed endOffsetHours by at least ${2 * bucketHours} (two buckets)`,
      );
    }
  }
  return options;
}

function requireWhole(path: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new InvalidStorageOptionsError(
      path,
      `must be a whole number from ${min} to ${max}, got ${String(value)}`,
    );
  }
}
