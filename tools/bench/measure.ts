import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The median of a non-empty sample (the mean of the middle two for an even count). */
export function median(values: readonly number[]): number {
  if (values.length === 0) throw new RangeError('median of an empty sample');
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  const upper = sorted[middle] as number;
  return sorted.length % 2 === 1 ? upper : ((sorted[middle - 1] as number) + upper) / 2;
}

/** Seconds taken by `work`, on the monotonic clock. */
export async function timed(work: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await work();
  return (performance.now() - started) / 1000;
}

/** One measured side of a comparison: every repetition's rate and their median. */
export interface Series {
  /** Per repetition, in the order run. */
  readonly samples: number[];
  readonly median: number;
}

export function series(samples: number[]): Series {
  return { samples, median: median(samples) };
}

/** `project / reference`, rounded to 2 decimals (the ratio the targets are stated in). */
export function ratio(project: Series, reference: Series): number {
  return Math.round((project.median / reference.median) * 100) / 100;
}

/**
 * Runs a command to completion and returns its stdout; a non-zero exit rejects with its stderr.
 * Used for psql and redis-benchmark, the references every scenario compares against.
 */
export async function command(file: string, args: readonly string[]): Promise<string> {
  const { stdout } = await run(file, [...args], { maxBuffer: 16 * 1024 * 1024 });
  return stdout;
}

/** p50 / p95 / p99 / max in ms; `null` where the rank falls on a missing (infinite) value. */
export interface Percentiles {
  readonly p50: number | null;
  readonly p95: number | null;
  readonly p99: number | null;
  readonly max: number | null;
}

/** Nearest-rank percentiles of a sample (Infinity stands for a value that never arrived). */
export function percentiles(values: readonly number[]): Percentiles {
  if (values.length === 0) throw new RangeError('percentiles of an empty sample');
  const sorted = [...values].sort((a, b) => a - b);
  const at = (fraction: number): number | null => {
    const value = sorted[Math.max(0, Math.ceil(fraction * sorted.length) - 1)] as number;
    return Number.isFinite(value) ? Math.round(value) : null;
  };
  return { p50: at(0.5), p95: at(0.95), p99: at(0.99), max: at(1) };
}
