/** A close that the robust return detector considers implausible. */
export interface FalseTick {
  ts: string;
  close: number;
  previousClose: number;
  /** Robust z-score of the log return into this bar: 0.6745 · (r − median) / MAD. */
  robustZ: number;
  /**
   * `spike`: the price jumps away and straight back (the next return is flagged with the opposite
   * sign), the classic bad tick. `jump`: a single flagged return, a level shift that may be real.
   */
  kind: 'spike' | 'jump';
}

/** Iglewicz–Hoaglin scaling: 0.6745 · (x − median) / MAD is ~N(0,1) for normal data. */
const MAD_SCALE = 0.6745;
/** When more than half the returns are identical MAD is 0; the mean absolute deviation stands in. */
const MEAN_AD_SCALE = 0.7979;

/**
 * Flags bars whose log return from the previous bar is more than `k` robust standard deviations
 * from the median return (median/MAD detector). `series` must be sorted by time and hold positive
 * closes. `comparable(i)` says whether bar i's return from bar i-1 belongs to the same population
 * (false across an overnight break or a run of missing bars, whose returns are naturally larger);
 * by default every pair is comparable.
 *
 * @example detectFalseTicks([{ ts, close: 1.08 }, { ts, close: 10.8 }, { ts, close: 1.08 }, …], 8)
 */
export function detectFalseTicks(
  series: readonly { ts: string; close: number }[],
  k: number,
  comparable: (index: number) => boolean = () => true,
): FalseTick[] {
  // returns[j] is the return INTO bar `into[j]` from bar `into[j] - 1`.
  const returns: number[] = [];
  const into: number[] = [];
  for (let i = 1; i < series.length; i += 1) {
    if (!comparable(i)) continue;
    returns.push(Math.log(at(series, i).close / at(series, i - 1).close));
    into.push(i);
  }
  if (returns.length < 3) return [];
  const center = median(returns);
  const deviations = returns.map((r) => Math.abs(r - center));
  const mad = median(deviations);
  const scale =
    mad > 0 ? mad / MAD_SCALE : deviations.reduce((sum, d) => sum + d, 0) / deviations.length / MEAN_AD_SCALE;
  if (!(scale > 0)) return [];
  const z = returns.map((r) => (r - center) / scale);

  const ticks: FalseTick[] = [];
  for (let j = 0; j < z.length; j += 1) {
    const zj = at(z, j);
    if (Math.abs(zj) <= k) continue;
    const index = at(into, j);
    const next = into[j + 1] === index + 1 ? z[j + 1] : undefined;
    const spike = next !== undefined && Math.abs(next) > k && Math.sign(next) !== Math.sign(zj);
    const bar = at(series, index);
    ticks.push({
      ts: bar.ts,
      close: bar.close,
      previousClose: at(series, index - 1).close,
      robustZ: zj,
      kind: spike ? 'spike' : 'jump',
    });
    // The return out of a spike is the spike's echo, not a second bad tick.
    if (spike) j += 1;
  }
  return ticks;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? at(sorted, mid) : (at(sorted, mid - 1) + at(sorted, mid)) / 2;
}

function at<T>(values: readonly T[], index: number): T {
  const value = values[index];
  if (value === undefined) throw new RangeError(`index ${index} outside 0..${values.length - 1}`);
  return value;
}
