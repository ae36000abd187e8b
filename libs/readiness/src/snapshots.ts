import { readinessSnapshotSchema, type ReadinessSnapshot } from '@backbone/contracts';
import type { ProducerPort } from '@backbone/kafka';
import type pg from 'pg';

/**
 * Stores a snapshot in `backbone.readiness_snapshots` (the dashboard's history).
 *
 * @example await storeSnapshot(pool, report.snapshot);
 */
export async function storeSnapshot(pool: pg.Pool, snapshot: ReadinessSnapshot): Promise<void> {
  await pool.query(
    'INSERT INTO backbone.readiness_snapshots (taken_at, status, report) VALUES ($1, $2, $3)',
    [snapshot.generatedAt, snapshot.status, JSON.stringify(snapshot)],
  );
}

/**
 * The newest `limit` stored snapshots, oldest first. Rows that no longer match the contract are
 * skipped and counted, never passed on half-valid.
 *
 * @example const { snapshots } = await recentSnapshots(pool, 60);
 */
export async function recentSnapshots(
  pool: pg.Pool,
  limit: number,
): Promise<{ snapshots: ReadinessSnapshot[]; invalid: number }> {
  const rows = await pool.query<{ report: unknown }>(
    'SELECT report FROM backbone.readiness_snapshots ORDER BY taken_at DESC, id DESC LIMIT $1',
    [limit],
  );
  const snapshots: ReadinessSnapshot[] = [];
  let invalid = 0;
  for (const row of rows.rows.reverse()) {
    const parsed = readinessSnapshotSchema.safeParse(row.report);
    if (parsed.success) snapshots.push(parsed.data);
    else invalid += 1;
  }
  return { snapshots, invalid };
}

/**
 * Publishes a snapshot to the readiness topic (`backbone.readiness.v1` under the deployment's
 * `kafka.namespace`; key = snapshot id).
 *
 * @example await publishSnapshot(producer, report.snapshot, topicName(config.kafka, 'backbone.readiness.v1'));
 */
export async function publishSnapshot(
  producer: ProducerPort,
  snapshot: ReadinessSnapshot,
  topic: string,
): Promise<void> {
  await producer.send(topic, [{ key: snapshot.id, value: JSON.stringify(snapshot) }]);
}
