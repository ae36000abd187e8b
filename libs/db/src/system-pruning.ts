import type { SqlExecutor } from './sql-executor.ts';

/**
 * One retention rule of a system table: rows whose `timeColumn` is older than `retentionDays`
 * (and that match `condition`) are deleted. A row whose time column is NULL is never deleted, so
 * a rule on `published_at` keeps unsent outbox events and one on `finished_at` keeps running
 * ingest runs. Table, column and condition come from code (never from config); the table and
 * column are checked to be plain identifiers anyway.
 */
export interface SystemPruneRule {
  /** Names the rule in results and logs, e.g. `outbox.sent`. */
  name: string;
  /** Schema-qualified table, e.g. `backbone.outbox`; not a partitioned table (drop partitions instead). */
  table: string;
  /** The timestamptz column the age is measured on. */
  timeColumn: string;
  /** Further SQL predicate on the rows the rule may delete (constant, from code). */
  condition?: string;
  retentionDays: number;
}

/** Retention of each system table in days (`storage.systemRetention`). */
export interface SystemRetentionDays {
  outboxSentDays: number;
  outboxDeadDays: number;
  readinessSnapshotsDays: number;
  ingestRunsDays: number;
  rejectedRowsDays: number;
  resolvedOffsetGapsDays: number;
}

/**
 * The system tables' retention rules. A new bookkeeping table is pruned by one line here.
 *
 * @example const rules = systemPruneRules(config.storage.systemRetention);
 */
export function systemPruneRules(days: SystemRetentionDays): SystemPruneRule[] {
  return [
    {
      name: 'outbox.sent',
      table: 'backbone.outbox',
      timeColumn: 'published_at',
      retentionDays: days.outboxSentDays,
    },
    {
      name: 'outbox.dead',
      table: 'backbone.outbox',
      timeColumn: 'dead_at',
      retentionDays: days.outboxDeadDays,
    },
    {
      name: 'readiness_snapshots',
      table: 'backbone.readiness_snapshots',
      timeColumn: 'taken_at',
      retentionDays: days.readinessSnapshotsDays,
    },
    {
      name: 'ingest_runs',
      table: 'backbone.ingest_runs',
      timeColumn: 'finished_at',
      condition: "status <> 'running'",
      retentionDays: days.ingestRunsDays,
    },
    {
      name: 'rejected_rows',
      table: 'backbone.rejected_rows',
      timeColumn: 'rejected_at',
      retentionDays: days.rejectedRowsDays,
    },
    {
      name: 'rejected_records',
      table: 'backbone.rejected_records',
      timeColumn: 'rejected_at',
      retentionDays: days.rejectedRowsDays,
    },
    {
      // Open gaps (resolved_at NULL) are never pruned: the partition waits on them.
      name: 'offset_gaps',
      table: 'backbone.offset_gaps',
      timeColumn: 'resolved_at',
      retentionDays: days.resolvedOffsetGapsDays,
    },
  ];
}

/** What {@link pruneSystemTables} did. */
export interface SystemPruneResult {
  /** Rows deleted per rule name. */
  pruned: Record<string, number>;
  /** `pg_total_relation_size` (table, indexes, TOAST) per table after the pass, bytes. */
  sizes: Record<string, number>;
}

const DAY_MS = 86_400_000;

/**
 * Deletes the rows of each rule that fell out of retention, in batches of `batchRows`. Each
 * batch is its own statement, so outside a transaction it commits on its own and holds its row
 * locks only briefly: a huge backlog never blocks the writers of the table for long. Then reports
 * the size of every table the rules name.
 *
 * @example const { pruned, sizes } = await pruneSystemTables(client, rules, { batchRows: 5000 });
 */
export async function pruneSystemTables(
  client: SqlExecutor,
  rules: readonly SystemPruneRule[],
  options: { batchRows: number; at?: Date },
): Promise<SystemPruneResult> {
  if (!(Number.isInteger(options.batchRows) && options.batchRows > 0)) {
    throw new RangeError(`pruneSystemTables: batchRows must be a positive integer, got ${options.batchRows}`);
  }
  const at = options.at ?? new Date();
  const pruned: Record<string, number> = {};
  for (const rule of rules) {
    const table = qualifiedIdentifier(rule.table);
    const column = identifier(rule.timeColumn);
    const where = `${column} < $1${rule.condition === undefined ? '' : ` AND (${rule.condition})`}`;
    // The condition is repeated on the DELETE so a row changed since the subquery read it is
    // judged again on its new version (it then no longer matches the old ctid and is skipped).
    const statement = `DELETE FROM ${table} WHERE ctid = ANY(ARRAY(SELECT ctid FROM ${table} WHERE ${where} LIMIT $2)) AND ${where}`;
    const cutoff = new Date(at.getTime() - rule.retentionDays * DAY_MS);
    let deleted = 0;
    let batch: number;
    do {
      const result = await client.query<{ n: number }>(
        `WITH deleted AS (${statement} RETURNING 1) SELECT count(*)::int AS n FROM deleted`,
        [cutoff, options.batchRows],
      );
      batch = result.rows[0]?.n ?? 0;
      deleted += batch;
    } while (batch === options.batchRows);
    pruned[rule.name] = deleted;
  }
  // Every table was checked to be an identifier above.
  const tables = [...new Set(rules.map((rule) => rule.table))];
  const sizes = await client.query<{ table_name: string; bytes: string }>(
    `SELECT t AS table_name, pg_total_relation_size(t::regclass)::text AS bytes FROM unnest($1::text[]) AS t`,
    [tables],
  );
  return {
    pruned,
    sizes: Object.fromEntries(sizes.rows.map((row) => [row.table_name, Number(row.bytes)])),
  };
}

/** Lower-case, unquoted-safe PostgreSQL identifiers only: the rules name our own tables. */
const PLAIN_IDENTIFIER = /^[a-z_][a-z0-9_]{0,62}$/;

function identifier(name: string): string {
  if (!PLAIN_IDENTIFIER.test(name)) {
    throw new RangeError(`pruneSystemTables: ${JSON.stringify(name)} is not a plain SQL identifier`);
  }
  return `"${name}"`;
}

function qualifiedIdentifier(name: string): string {
  const parts = name.split('.');
  if (parts.length !== 2) {
    throw new RangeError(`pruneSystemTables: table ${JSON.stringify(name)} must be schema-qualified`);
  }
  return parts.map(identifier).join('.');
}
