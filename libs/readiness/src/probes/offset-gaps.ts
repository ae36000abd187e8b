import { describeOffsetGap, listOffsetGaps, offsetGapJson } from '@backbone/stream';
import type pg from 'pg';
import { notOk, ok, type CheckOutcome } from '../check.ts';
import type { CheckDefinition } from '../run-check.ts';

/**
 * `kafka.offset-gaps`: fails while `backbone.offset_gaps` holds an unresolved gap, a stored
 * consumer offset outside its partition's log. Under the default policy the sink holds that
 * partition (nothing is read from it) until an operator runs `./backbone offsets resolve`.
 *
 * @example const check = offsetGapsCheck({ pool });
 */
export function offsetGapsCheck(input: { pool: pg.Pool }): CheckDefinition {
  return { name: 'kafka.offset-gaps', component: 'kafka', run: () => probeOffsetGaps(input.pool) };
}

async function probeOffsetGaps(pool: pg.Pool): Promise<CheckOutcome> {
  const gaps = await listOffsetGaps(pool, { unresolvedOnly: true });
  const evidence = {
    unresolved: gaps.map(offsetGapJson),
  };
  if (gaps.length === 0) return ok(evidence);
  const sentences = gaps.map((gap) => `${describeOffsetGap(gap)} (since ${gap.detectedAt.toISOString()}).`);
  return notOk(
    'fail',
    'offset_gap_unresolved',
    `${gaps.length} unresolved offset gap${gaps.length === 1 ? '' : 's'}: ${sentences.join(' ')} Choose where each partition reads on: ./backbone offsets resolve --group G --topic T --partition P --to earliest|latest|<offset>.`,
    evidence,
  );
}
