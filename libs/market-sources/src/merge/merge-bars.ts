import type { DriftFinding, UnvalidatedBar } from '../types.ts';

export type { DriftFinding } from '../types.ts';

/** One source's rows; sources are passed in priority order, most trusted first. */
export interface SourceRows {
  source: string;
  rows: readonly UnvalidatedBar[];
}

export interface MergeOptions {
  /** Relative close difference above which two sources are reported as drifting. Default 0.005 (0.5 %). */
  driftThreshold?: number;
  /** At most this many findings are listed; `driftCount` stays exact. Default 50. */
  maxListed?: number;
}

export interface MergeResult {
  /** One row per (symbol, timeframe, ts), ordered by ts then symbol. */
  rows: UnvalidatedBar[];
  /** How many merged rows each source supplied. */
  rowsBySource: Record<string, number>;
  driftCount: number;
  drift: DriftFinding[];
}

/**
 * Merges bars from several sources: for every (symbol, timeframe, ts) the row of the most trusted
 * source that has a close wins; every other source's close for the same bar is compared with it
 * and reported when it drifts by more than the threshold.
 *
 * @example mergeBarsByPriority([{ source: 'yahoo', rows: a }, { source: 'csv', rows: b }], { driftThreshold: 0.002 })
 */
export function mergeBarsByPriority(sources: readonly SourceRows[], options: MergeOptions = {}): MergeResult {
  const threshold = options.driftThreshold ?? 0.005;
  const maxListed = options.maxListed ?? 50;
  const names = sources.map((s) => s.source);
  const duplicate = names.find((name, index) => names.indexOf(name) !== index);
  if (duplicate !== undefined)
    throw new RangeError(`mergeBarsByPriority: source "${duplicate}" listed twice`);

  const chosen = new Map<string, UnvalidatedBar>();
  for (const { rows } of sources) {
    for (const row of rows) {
      const key = keyOf(row);
      const current = chosen.get(key);
      // A higher-priority row without a close is no better than none.
      if (current === undefined || (current.close === null && row.close !== null)) chosen.set(key, row);
    }
  }

  let driftCount = 0;
  const drift: DriftFinding[] = [];
  for (const { source, rows } of sources) {
    for (const row of rows) {
      const winner = chosen.get(keyOf(row));
      if (winner === undefined || winner === row || winner.source === source) continue;
      if (winner.close === null || row.close === null || winner.close === 0) continue;
      const relativeDifference = Math.abs(row.close - winner.close) / Math.abs(winner.close);
      if (!(relativeDifference > threshold)) continue;
      driftCount += 1;
      if (drift.length < maxListed) {
        drift.push({
          symbol: winner.symbol,
          timeframe: winner.timeframe,
          ts: winner.ts,
          chosen: { source: winner.source, close: winner.close },
          other: { source, close: row.close },
          relativeDifference,
        });
      }
    }
  }

  const merged = [...chosen.values()].sort(
    (a, b) => a.ts.localeCompare(b.ts) || a.symbol.localeCompare(b.symbol),
  );
  const rowsBySource: Record<string, number> = Object.fromEntries(names.map((name) => [name, 0]));
  for (const row of merged) rowsBySource[row.source] = (rowsBySource[row.source] ?? 0) + 1;
  return { rows: merged, rowsBySource, driftCount, drift };
}

function keyOf(row: UnvalidatedBar): string {
  // ts is compared as an instant so `…:00Z` and `…:00.000Z` are the same bar.
  return `${row.symbol.toUpperCase()}|${row.timeframe}|${Date.parse(row.ts)}`;
}
