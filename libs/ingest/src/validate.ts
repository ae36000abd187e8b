import { parseBar, type Bar, type BarRuleOptions } from '@backbone/contracts';
import type { RejectedRow } from '@backbone/db';
import { escapeControlCharacters, type SourceRejection, type UnvalidatedBar } from '@backbone/market-sources';

/** A chunk after the contract rules: the bars to write and every refused record with its reason. */
export interface ValidatedChunk {
  bars: Bar[];
  rejected: RejectedRow[];
}

const MAX_RAW = 500;

/**
 * Applies the `market.bars.v1` rules (symbol pattern, finite positive prices, OHLC consistency,
 * alignment, future skew) to provider rows. Rows the provider could not even parse arrive as
 * `sourceRejections` and are kept with their own reason. Nothing is dropped: every input record
 * ends up in `bars` or `rejected`. What is kept about a rejected record has its control characters
 * escaped: a NUL in a stored message would fail the window's transaction, valid rows included.
 *
 * @example const { bars, rejected } = validateRows(chunk.rows, chunk.rejections, { runId, rules });
 */
export function validateRows(
  rows: readonly UnvalidatedBar[],
  sourceRejections: readonly SourceRejection[],
  options: { runId: string; rules: BarRuleOptions },
): ValidatedChunk {
  const bars: Bar[] = [];
  const rejected = sourceRejectionRows(sourceRejections, options.runId);
  for (const row of rows) {
    const result = parseBar(row, options.rules);
    if (result.ok) {
      bars.push(result.bar);
      continue;
    }
    rejected.push({
      runId: options.runId,
      source: typeof row.source === 'string' && row.source !== '' ? row.source : 'unknown',
      reason: result.reason,
      message: escapeControlCharacters(result.message),
      raw: escapeControlCharacters(JSON.stringify(row).slice(0, MAX_RAW)),
    });
  }
  return { bars, rejected };
}

/** The rows stored for records a provider could not read, each with its reason and where it was. */
export function sourceRejectionRows(rejections: readonly SourceRejection[], runId: string): RejectedRow[] {
  return rejections.map((rejection) => ({
    runId,
    source: rejection.source,
    reason: rejection.reason,
    message: escapeControlCharacters(`${rejection.location}: ${rejection.detail}`),
    raw: null,
  }));
}

/** Adds each rejection's reason to `counts`. */
export function countByReason(rejected: readonly RejectedRow[], counts: Record<string, number>): void {
  for (const row of rejected) counts[row.reason] = (counts[row.reason] ?? 0) + 1;
}
