import type { AdminPort } from '@backbone/kafka';
import { stalledPartitions } from '@backbone/stream';
import type pg from 'pg';
import { combine, formatAge, formatCount, type CheckOutcome, type Evidence, type Finding } from '../check.ts';
import type { ReadinessRules } from '../rules.ts';
import type { WatchedGroup } from './kafka.ts';

/**
 * `kafka.stalled-partitions`: fails for every partition whose records wait while its sink has
 * stored no progress for `readiness.stalledPartitionSeconds` (a record the sink keeps failing
 * on, a consumer that stopped fetching), naming the group, topic, partition, lag and since when.
 * Lag thresholds alone cannot see this: a stuck partition with little traffic stays below them.
 *
 * @example const outcome = await probeStalledPartitions(admin, pool, groups, rules, new Date());
 */
export async function probeStalledPartitions(
  admin: AdminPort,
  pool: pg.Pool,
  groups: readonly WatchedGroup[],
  rules: ReadinessRules,
  now: Date,
): Promise<CheckOutcome> {
  const stalledAfterMs = rules.stalledPartitionSeconds * 1000;
  const findings: Finding[] = [];
  const stalled: Evidence[] = [];
  for (const group of groups) {
    for (const partition of await stalledPartitions({
      admin,
      pool,
      groupId: group.groupId,
      topics: group.topics,
      stalledAfterMs,
      now,
    })) {
      const since = partition.lastProgressAt;
      stalled.push({
        group: partition.groupId,
        topic: partition.topic,
        partition: partition.partition,
        lag: Number(partition.lag),
        firstPendingOffset: Number(partition.firstPendingOffset),
        lastProgressAt: since?.toISOString() ?? null,
      });
      const where = `${partition.topic}[${partition.partition}]`;
      const progress =
        since === null
          ? `has never stored progress on ${where}`
          : `has stored no progress on ${where} since ${since.toISOString()} (${formatAge((now.getTime() - since.getTime()) / 1000)} ago)`;
      findings.push({
        status: 'fail',
        reason: 'partition_stalled',
        message: `Consumer group ${partition.groupId} ${progress} while ${formatCount(partition.lag)} records wait, the oldest (offset ${partition.firstPendingOffset}) for over ${formatAge(rules.stalledPartitionSeconds)}; check the worker's lastError in its /readyz and its logs.`,
      });
    }
  }
  return combine(findings, { stalledAfterSeconds: rules.stalledPartitionSeconds, stalled });
}
