import type { AdminPort, PartitionOffsets } from '@backbone/kafka';
import { withTransaction } from '@backbone/db';
import type { ClientBase, Pool } from 'pg';
import { OffsetGapError } from './errors.ts';
import { lockNextOffset, storeNextOffset } from './offset-store.ts';

/**
 * `backbone.offset_gaps`: stored next offsets found outside their partition's log. Reading on
 * from such an offset would skip records without a trace (the client resets to one end of the
 * log, and the sink's offset fence discards what lies below the stored offset), so a gap is
 * recorded, counted and either held for an operator or resolved by the configured policy.
 */

/**
 * What a sink does with a gap (`kafka.consumer.offsetOutOfRange`): `fail` holds the partition
 * until an operator resolves it; `earliest` / `latest` resolve it at once by moving the stored
 * offset to the log start / end (the decision is recorded all the same).
 */
export type OffsetOutOfRangePolicy = 'fail' | 'earliest' | 'latest';

/**
 * `beyond_log_end`: the stored offset is past the log end (the topic was deleted and recreated,
 * or truncated): the records of the new log, all below the stored offset, would be fenced.
 * `before_log_start`: retention deleted records the group never read.
 */
export type OffsetGapKind = 'beyond_log_end' | 'before_log_start';

/** Where a resolution moves the stored offset: the log start, the log end, or an offset in between. */
export type OffsetGapTarget = 'earliest' | 'latest' | bigint;

/** One row of `backbone.offset_gaps`. */
export interface OffsetGap {
  readonly id: number;
  readonly groupId: string;
  readonly topic: string;
  readonly partition: number;
  readonly kind: OffsetGapKind;
  /** The stored next offset when the gap was found. */
  readonly storedOffset: bigint;
  /** The partition's log start and end when the gap was found. */
  readonly logStart: bigint;
  readonly logEnd: bigint;
  readonly detectedAt: Date;
  readonly resolvedAt: Date | null;
  readonly resolution: 'earliest' | 'latest' | 'offset' | null;
  readonly resolvedOffset: bigint | null;
  readonly resolvedBy: string | null;
}

/** A gap as found, before it is recorded. */
export interface FoundOffsetGap {
  readonly groupId: string;
  readonly topic: string;
  readonly partition: number;
  readonly kind: OffsetGapKind;
  readonly storedOffset: bigint;
  readonly logStart: bigint;
  readonly logEnd: bigint;
}

/**
 * The gap a stored next offset makes in a partition's log, or undefined when it is inside
 * (`low <= stored <= high`; `stored = high` is a consumer that has read everything).
 *
 * @example findOffsetGap(200n, { low: 0n, high: 10n }) // 'beyond_log_end'
 */
export function findOffsetGap(
  storedOffset: bigint,
  log: Pick<PartitionOffsets, 'low' | 'high'>,
): OffsetGapKind | undefined {
  if (storedOffset > log.high) return 'beyond_log_end';
  if (storedOffset < log.low) return 'before_log_start';
  return undefined;
}

/**
 * One sentence naming the topic, partition and offset range of a gap, and what it means.
 *
 * @example describeOffsetGap(gap) // 'market.bars.v1[5]: stored next offset 200 is beyond the log end 10 …'
 */
export function describeOffsetGap(gap: FoundOffsetGap): string {
  const where = `${gap.topic}[${gap.partition}] (group ${gap.groupId})`;
  const log = `log [${gap.logStart}, ${gap.logEnd})`;
  if (gap.kind === 'beyond_log_end') {
    return `${where}: stored next offset ${gap.storedOffset} is beyond the log end ${gap.logEnd} (${log}); the topic was deleted and recreated or truncated, and the records [${gap.logStart}, ${gap.logEnd}) of the new log would be skipped`;
  }
  return `${where}: stored next offset ${gap.storedOffset} is before the log start ${gap.logStart} (${log}); retention deleted the records [${gap.storedOffset}, ${gap.logStart}) before they were read`;
}

/**
 * A gap as JSON (offsets as strings, times as ISO-8601): one shape for `offsets show --json` and
 * the readiness evidence.
 *
 * @example JSON.stringify(gaps.map(offsetGapJson))
 */
export function offsetGapJson(gap: OffsetGap) {
  return {
    id: gap.id,
    group: gap.groupId,
    topic: gap.topic,
    partition: gap.partition,
    kind: gap.kind,
    storedOffset: gap.storedOffset.toString(),
    logStart: gap.logStart.toString(),
    logEnd: gap.logEnd.toString(),
    detectedAt: gap.detectedAt.toISOString(),
    resolvedAt: gap.resolvedAt?.toISOString() ?? null,
    resolution: gap.resolution,
    resolvedOffset: gap.resolvedOffset?.toString() ?? null,
    resolvedBy: gap.resolvedBy,
  };
}

interface GapRow {
  id: string;
  group_id: string;
  topic: string;
  partition: number;
  kind: OffsetGapKind;
  stored_offset: string;
  log_start: string;
  log_end: string;
  detected_at: Date;
  resolved_at: Date | null;
  resolution: OffsetGap['resolution'];
  resolved_offset: string | null;
  resolved_by: string | null;
}

const GAP_COLUMNS = `id::text AS id, group_id, topic, partition, kind, stored_offset::text AS stored_offset,
  log_start::text AS log_start, log_end::text AS log_end, detected_at, resolved_at, resolution,
  resolved_offset::text AS resolved_offset, resolved_by`;

function toGap(row: GapRow): OffsetGap {
  return {
    id: Number(row.id),
    groupId: row.group_id,
    topic: row.topic,
    partition: row.partition,
    kind: row.kind,
    storedOffset: BigInt(row.stored_offset),
    logStart: BigInt(row.log_start),
    logEnd: BigInt(row.log_end),
    detectedAt: row.detected_at,
    resolvedAt: row.resolved_at,
    resolution: row.resolution,
    resolvedOffset: row.resolved_offset === null ? null : BigInt(row.resolved_offset),
    resolvedBy: row.resolved_by,
  };
}

/**
 * Records a gap, or finds the unresolved one of the same partition already recorded (found again
 * after a restart or rebalance). `recorded` is true only for a new row.
 *
 * @example const { gap, recorded } = await recordOffsetGap(pool, found);
 */
export async function recordOffsetGap(
  db: Pool | ClientBase,
  found: FoundOffsetGap,
): Promise<{ gap: OffsetGap; recorded: boolean }> {
  const inserted = await db.query<GapRow>(
    `INSERT INTO backbone.offset_gaps (group_id, topic, partition, kind, stored_offset, log_start, log_end)
     VALUES ($1, $2, $3, $4, $5, $6, $7)
     ON CONFLICT (group_id, topic, partition) WHERE resolved_at IS NULL DO NOTHING
     RETURNING ${GAP_COLUMNS}`,
    [
      found.groupId,
      found.topic,
      found.partition,
      found.kind,
      found.storedOffset.toString(),
      found.logStart.toString(),
      found.logEnd.toString(),
    ],
  );
  const row = inserted.rows[0];
  if (row !== undefined) return { gap: toGap(row), recorded: true };
  const existing = await unresolvedGap(db, found.groupId, found.topic, found.partition);
  // Resolved between the two statements: record the gap afresh.
  if (existing === undefined) return recordOffsetGap(db, found);
  return { gap: existing, recorded: false };
}

async function unresolvedGap(
  db: Pool | ClientBase,
  groupId: string,
  topic: string,
  partition: number,
  lock = false,
): Promise<OffsetGap | undefined> {
  const result = await db.query<GapRow>(
    `SELECT ${GAP_COLUMNS} FROM backbone.offset_gaps
     WHERE group_id = $1 AND topic = $2 AND partition = $3 AND resolved_at IS NULL
     ${lock ? 'FOR UPDATE' : ''}`,
    [groupId, topic, partition],
  );
  const row = result.rows[0];
  return row === undefined ? undefined : toGap(row);
}

/**
 * Recorded gaps, newest first: the unresolved ones only, or all of them.
 *
 * @example const open = await listOffsetGaps(pool, { unresolvedOnly: true });
 */
export async function listOffsetGaps(
  db: Pool | ClientBase,
  options: { unresolvedOnly: boolean },
): Promise<OffsetGap[]> {
  const result = await db.query<GapRow>(
    `SELECT ${GAP_COLUMNS} FROM backbone.offset_gaps
     ${options.unresolvedOnly ? 'WHERE resolved_at IS NULL' : ''}
     ORDER BY detected_at DESC, id DESC`,
  );
  return result.rows.map(toGap);
}

/**
 * Of the given gap ids, those resolved since (for a sink holding their partitions).
 *
 * @example const done = await resolvedGapIds(pool, [12, 13]);
 */
export async function resolvedGapIds(db: Pool | ClientBase, ids: readonly number[]): Promise<Set<number>> {
  if (ids.length === 0) return new Set();
  const result = await db.query<{ id: string }>(
    `SELECT id::text AS id FROM backbone.offset_gaps WHERE id = ANY($1::bigint[]) AND resolved_at IS NOT NULL`,
    [ids.map(String)],
  );
  return new Set(result.rows.map((row) => Number(row.id)));
}

/** A decision about an unresolved gap. */
export interface OffsetGapResolution {
  readonly groupId: string;
  readonly topic: string;
  readonly partition: number;
  readonly to: OffsetGapTarget;
  /** Who decided: the operator's name, or `policy:<policy>` for the configured policy. */
  readonly resolvedBy: string;
}

/**
 * Resolves the unresolved gap of a partition: in one transaction, the stored next offset is moved
 * to the target (the log start for `earliest`, the log end for `latest`, or an offset inside the
 * log as it is now) and the decision is recorded on the gap. A sink holding the partition notices
 * and resumes there. Throws {@link OffsetGapError} when there is no unresolved gap or the target
 * is outside the log.
 *
 * @example await resolveOffsetGap(pool, admin, { groupId, topic, partition: 5, to: 'earliest', resolvedBy: 'alice' });
 */
export async function resolveOffsetGap(
  pool: Pool,
  admin: AdminPort,
  resolution: OffsetGapResolution,
): Promise<OffsetGap> {
  const log = await partitionLog(admin, resolution.topic, resolution.partition);
  return resolveOffsetGapInLog(pool, resolution, log);
}

/**
 * {@link resolveOffsetGap} with the partition's log offsets already fetched (the sink has them).
 *
 * @example await resolveOffsetGapInLog(pool, { ..., to: 'earliest', resolvedBy: 'policy:earliest' }, log);
 */
export async function resolveOffsetGapInLog(
  pool: Pool,
  resolution: OffsetGapResolution,
  log: Pick<PartitionOffsets, 'low' | 'high'>,
): Promise<OffsetGap> {
  const { groupId, topic, partition, to } = resolution;
  const where = `${topic}[${partition}] (group ${groupId})`;
  const target = to === 'earliest' ? log.low : to === 'latest' ? log.high : to;
  if (target < log.low || target > log.high) {
    throw new OffsetGapError(
      `offset ${target} is outside the log of ${where}, which holds ${log.low}..${log.high}; choose earliest, latest or an offset in that range`,
    );
  }
  return withTransaction(pool, async (client) => {
    const gap = await unresolvedGap(client, groupId, topic, partition, true);
    if (gap === undefined) throw new OffsetGapError(`no unresolved offset gap for ${where}`);
    // The partition's writer takes this lock too: the rewrite cannot interleave with a slice.
    await lockNextOffset(client, groupId, topic, partition);
    await storeNextOffset(client, groupId, topic, partition, target);
    const result = await client.query<GapRow>(
      `UPDATE backbone.offset_gaps
       SET resolved_at = now(), resolution = $2, resolved_offset = $3, resolved_by = $4
       WHERE id = $1 RETURNING ${GAP_COLUMNS}`,
      [gap.id, typeof to === 'bigint' ? 'offset' : to, target.toString(), resolution.resolvedBy],
    );
    const row = result.rows[0];
    if (row === undefined) throw new OffsetGapError(`offset gap ${gap.id} of ${where} vanished`);
    return toGap(row);
  });
}

/**
 * The log start and end of one partition; an error naming it when the topic has no such partition.
 *
 * @example const { low, high } = await partitionLog(admin, 'market.bars.v1', 5);
 */
export async function partitionLog(
  admin: AdminPort,
  topic: string,
  partition: number,
): Promise<PartitionOffsets> {
  const log = (await admin.fetchTopicOffsets(topic)).find((entry) => entry.partition === partition);
  if (log === undefined) throw new OffsetGapError(`topic ${topic} has no partition ${partition}`);
  return log;
}
