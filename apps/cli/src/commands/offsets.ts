import { userInfo } from 'node:os';
import { redactText, type SystemConfig } from '@backbone/config';
import { createPool } from '@backbone/db';
import { createKafkajsClient, type AdminPort, type PartitionOffsets } from '@backbone/kafka';
import {
  findOffsetGap,
  listOffsetGaps,
  offsetGapJson,
  readAllStoredOffsets,
  resolveOffsetGap,
  type OffsetGapTarget,
} from '@backbone/stream';
import { createLogger } from '@backbone/telemetry';
import { InvalidArgumentError, type Command } from 'commander';
import { loadCliConfig } from '../load-cli-config.ts';

/** The pool `createPool` hands out (the CLI does not depend on `pg` itself). */
type Pool = ReturnType<typeof createPool>;

/** A stored offset against the partition's log as it is now. */
export interface StoredOffsetRow {
  group: string;
  topic: string;
  partition: number;
  storedOffset: string;
  logStart: string | null;
  logEnd: string | null;
  /** `ok`, a gap kind, or why the log is not there to compare with. */
  state: 'ok' | 'beyond_log_end' | 'before_log_start' | 'topic_missing' | 'partition_missing';
}

/** What `./backbone offsets show` prints. */
export interface OffsetsReport {
  offsets: StoredOffsetRow[];
  /** Every recorded gap, newest first, with its resolution when there is one. */
  gaps: ReturnType<typeof offsetGapJson>[];
  unresolvedGaps: number;
}

/**
 * `./backbone offsets show [--json]`: the stored consumer offsets (`backbone.consumer_offsets`,
 * the sinks' truth) against their partitions' logs, and the recorded offset gaps. Exit 0 without
 * an unresolved gap, 1 with one (or when PostgreSQL or Kafka fails).
 *
 * `./backbone offsets resolve --group G --topic T --partition P --to earliest|latest|<offset>
 * [--by NAME]`: the operator's decision for an unresolved gap: the stored offset moves to the log
 * start, the log end or the given offset (inside the log), the decision is recorded on the gap,
 * and the sink holding the partition resumes there. Exit 0 when resolved, 1 when there is no
 * unresolved gap or the offset is outside the log, 2 for bad usage. See docs/kafka.md.
 */
export function registerOffsetsCommand(program: Command): void {
  const offsets = program
    .command('offsets')
    .description('Stored consumer offsets and offset gaps (offsets no longer in the Kafka log).');
  offsets
    .command('show')
    .description('Stored offsets against the partition logs, and the recorded offset gaps.')
    .option('--json', 'print the report as JSON')
    .action(async (flags: { json?: boolean }) => {
      const config = loadCliConfig();
      try {
        const report = await withClients(config, (pool, admin) => showOffsets(pool, admin));
        process.stdout.write(flags.json ? `${JSON.stringify(report, null, 2)}\n` : renderReport(report));
        process.exitCode = report.unresolvedGaps === 0 ? 0 : 1;
      } catch (error) {
        process.stderr.write(`backbone offsets show: ${describe(error)}\n`);
        process.exitCode = 1;
      }
    });
  offsets
    .command('resolve')
    .description(
      'Resolve an offset gap: move the stored offset to the log start, the log end or an offset, and record who decided.',
    )
    .requiredOption('--group <group>', 'consumer group (e.g. stream-bridge)')
    .requiredOption('--topic <topic>', 'topic of the gap')
    .requiredOption('--partition <partition>', 'partition of the gap', parsePartition)
    .requiredOption('--to <target>', 'earliest | latest | an offset inside the log', parseTarget)
    .option('--by <name>', 'who decides (recorded with the gap; default: the OS user)')
    .action(
      async (flags: {
        group: string;
        topic: string;
        partition: number;
        to: OffsetGapTarget;
        by?: string;
      }) => {
        const config = loadCliConfig();
        try {
          const gap = await withClients(config, (pool, admin) =>
            resolveOffsetGap(pool, admin, {
              groupId: flags.group,
              topic: flags.topic,
              partition: flags.partition,
              to: flags.to,
              resolvedBy: flags.by ?? userInfo().username,
            }),
          );
          process.stdout.write(
            `resolved offset gap ${gap.id} of ${gap.topic}[${gap.partition}] (group ${gap.groupId}): stored next offset ${gap.storedOffset} -> ${gap.resolvedOffset} (${gap.resolution}, by ${gap.resolvedBy}); the sink holding the partition resumes there\n`,
          );
        } catch (error) {
          process.stderr.write(`backbone offsets resolve: ${describe(error)}\n`);
          process.exitCode = 1;
        }
      },
    );
}

/**
 * Every stored offset with its partition's log and state, and every recorded gap.
 *
 * @example const report = await showOffsets(pool, admin);
 */
export async function showOffsets(pool: Pool, admin: AdminPort): Promise<OffsetsReport> {
  const [stored, gaps] = await Promise.all([
    readAllStoredOffsets(pool),
    listOffsetGaps(pool, { unresolvedOnly: false }),
  ]);
  const existing = new Set(await admin.listTopics());
  const logs = new Map<string, PartitionOffsets[]>();
  for (const topic of new Set(stored.map((row) => row.topic))) {
    if (existing.has(topic)) logs.set(topic, await admin.fetchTopicOffsets(topic));
  }
  const offsets = stored.map((row): StoredOffsetRow => {
    const partitions = logs.get(row.topic);
    const log = partitions?.find((entry) => entry.partition === row.partition);
    const base = {
      group: row.groupId,
      topic: row.topic,
      partition: row.partition,
      storedOffset: row.offset.toString(),
      logStart: log?.low.toString() ?? null,
      logEnd: log?.high.toString() ?? null,
    };
    if (partitions === undefined) return { ...base, state: 'topic_missing' };
    if (log === undefined) return { ...base, state: 'partition_missing' };
    return { ...base, state: findOffsetGap(row.offset, log) ?? 'ok' };
  });
  return {
    offsets,
    gaps: gaps.map(offsetGapJson),
    unresolvedGaps: gaps.filter((gap) => gap.resolvedAt === null).length,
  };
}

async function withClients<T>(
  config: SystemConfig,
  work: (pool: Pool, admin: AdminPort) => Promise<T>,
): Promise<T> {
  const logger = createLogger({ name: 'offsets', level: 'warn', destination: process.stderr });
  const admin = createKafkajsClient({
    ...config.kafka,
    clientId: `${config.kafka.clientId}-cli`,
    logger,
  }).admin();
  const pool = createPool(config.database, { applicationName: 'backbone-cli', onError: () => undefined });
  try {
    await admin.connect();
    return await work(pool, admin);
  } finally {
    await Promise.allSettled([admin.close(), pool.end()]);
  }
}

function parsePartition(value: string): number {
  if (!/^\d{1,9}$/.test(value)) throw new InvalidArgumentError('must be a partition number (0, 1, …)');
  return Number(value);
}

function parseTarget(value: string): OffsetGapTarget {
  if (value === 'earliest' || value === 'latest') return value;
  if (/^\d{1,19}$/.test(value)) return BigInt(value);
  throw new InvalidArgumentError('must be earliest, latest or an offset (a non-negative integer)');
}

function describe(error: unknown): string {
  return redactText(error instanceof Error ? error.message : String(error));
}

function renderReport(report: OffsetsReport): string {
  const lines = ['stored offsets (group topic[partition]: stored next offset, log [start, end), state)'];
  if (report.offsets.length === 0) lines.push('  none');
  for (const row of report.offsets) {
    const log = row.logStart === null ? 'no log' : `log [${row.logStart}, ${row.logEnd})`;
    lines.push(`  ${row.group} ${row.topic}[${row.partition}]: ${row.storedOffset}, ${log}, ${row.state}`);
  }
  lines.push(`offset gaps (${report.unresolvedGaps} unresolved)`);
  if (report.gaps.length === 0) lines.push('  none');
  for (const gap of report.gaps) {
    const state =
      gap.resolvedAt === null
        ? `UNRESOLVED: ./backbone offsets resolve --group ${gap.group} --topic ${gap.topic} --partition ${gap.partition} --to earliest|latest|<offset>`
        : `resolved ${gap.resolvedAt} by ${gap.resolvedBy}: ${gap.resolution} -> ${gap.resolvedOffset}`;
    lines.push(
      `  #${gap.id} ${gap.group} ${gap.topic}[${gap.partition}] ${gap.kind}: stored ${gap.storedOffset}, log [${gap.logStart}, ${gap.logEnd}) at ${gap.detectedAt}; ${state}`,
    );
  }
  return `${lines.join('\n')}\n`;
}
