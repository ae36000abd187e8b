import { redactText, type SystemConfig } from '@backbone/config';
import {
  createKafkajsClient,
  ensureTopics,
  topicSpecsFromConfig,
  type EnsureTopicsReport,
} from '@backbone/kafka';
import { createLogger } from '@backbone/telemetry';
import type { Command } from 'commander';
import { loadCliConfig } from '../load-cli-config.ts';

/**
 * `./backbone topics ensure [--dry-run] [--json]`: makes the fixed topics match `kafka.topics`.
 * Exit 0 when every topic is created, unchanged or updated; 1 when one is mismatched (partition
 * count or replication factor differs: reported, never changed) or failed, or the broker is away.
 */
export function registerTopicsCommand(program: Command): void {
  const topics = program.command('topics').description('Kafka topic provisioning');
  topics
    .command('ensure')
    .description(
      'Create missing topics, alter drifted configs, report partition/replication mismatches (never changed)',
    )
    .option('--dry-run', 'read only: report what would be done')
    .option('--json', 'print the report as JSON')
    .action(async (flags: { dryRun?: boolean; json?: boolean }) => {
      const config = loadCliConfig();
      try {
        const report = await ensure(config, flags.dryRun ?? false);
        process.stdout.write(flags.json ? `${JSON.stringify(report, null, 2)}\n` : renderReport(report));
        process.exitCode = report.ok ? 0 : 1;
      } catch (error) {
        process.stderr.write(
          `backbone topics: ${redactText(error instanceof Error ? error.message : String(error))}\n`,
        );
        process.exitCode = 1;
      }
    });
}

async function ensure(config: SystemConfig, dryRun: boolean): Promise<EnsureTopicsReport> {
  const logger = createLogger({ name: 'topics', level: 'warn', destination: process.stderr });
  const admin = createKafkajsClient({
    ...config.kafka,
    clientId: `${config.kafka.clientId}-cli`,
    logger,
  }).admin();
  try {
    await admin.connect();
    return await ensureTopics(admin, topicSpecsFromConfig(config.kafka), { dryRun });
  } finally {
    await admin.close();
  }
}

function renderReport(report: EnsureTopicsReport): string {
  const verb = (action: string) =>
    report.dryRun && action !== 'unchanged' && action !== 'mismatched' ? `would be ${action}` : action;
  const lines = report.topics.map((topic) => {
    const details = [
      `partitions ${topic.partitions.actual ?? '-'}/${topic.partitions.expected}`,
      `rf ${topic.replicationFactor.actual ?? '-'}/${topic.replicationFactor.expected}`,
      ...topic.configChanges.map(
        (change) => `${change.name}: ${change.from ?? '(inherited)'} -> ${change.to}`,
      ),
      ...(topic.reason === undefined ? [] : [topic.reason]),
    ];
    return `${topic.topic.padEnd(28)} ${verb(topic.action).padEnd(16)} ${details.join('; ')}`;
  });
  return `${lines.join('\n')}\n${report.dryRun ? 'dry run: nothing was changed\n' : ''}`;
}
