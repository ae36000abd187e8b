import { mergeBars, withTransaction, type BarRow } from '@backbone/db';
import type pg from 'pg';

/** `count` consecutive 1m bars of `symbol` ending at `end` (exclusive), closes rising by 0.0001. */
export function minuteBars(symbol: string, end: Date, count: number, base = 1.1): (BarRow & { ts: Date })[] {
  const endMs = Math.floor(end.getTime() / 60_000) * 60_000;
  return Array.from({ length: count }, (_, i) => {
    const ts = new Date(endMs - (count - i) * 60_000);
    const close = Number((base + i * 0.0001).toFixed(5));
    return {
      symbol,
      timeframe: '1m',
      ts,
      open: close,
      high: close + 0.0002,
      low: close - 0.0002,
      close,
      volume: 100 + i,
      source: 'test',
    };
  });
}

/** Writes bars as one ingest run would (rows tagged with `runId`). */
export async function writeBars(pool: pg.Pool, bars: readonly BarRow[], runId: string): Promise<void> {
  await withTransaction(pool, (client) => mergeBars(client, bars, { runId }));
}
