import { redactText } from '@backbone/config';
import { createPool, migrate, type MigrateResult } from '@backbone/db';
import type { Command } from 'commander';
import { loadCliConfig } from '../load-cli-config.ts';

/**
 * `./backbone migrate [--dry-run] [--json]`: applies the versioned schema migrations once and
 * reconciles the storage policies with the `storage` config. Exit 0 when the schema is current,
 * 1 when a migration failed (the message is redacted), 2 for invalid configuration.
 */
export function registerMigrateCommand(program: Command): void {
  program
    .command('migrate')
    .description(
      'Apply pending schema migrations (TimescaleDB when available, partitioned PostgreSQL otherwise).',
    )
    .option('--dry-run', 'list the pending migrations without applying anything', false)
    .option('--json', 'print the result as JSON', false)
    .action(async (options: { dryRun: boolean; json: boolean }) => {
      const config = loadCliConfig();
      // Migrations may legitimately run longer than the workers' statement timeout; 0 = none.
      const pool = createPool(
        { ...config.database, statementTimeoutMs: 0 },
        { applicationName: 'backbone-migrate' },
      );
      try {
        const client = await pool.connect();
        try {
          const result = await migrate(client, { dryRun: options.dryRun, storage: config.storage });
          process.stdout.write(options.json ? `${JSON.stringify(result, null, 2)}\n` : describe(result));
        } finally {
          client.release();
        }
      } catch (error) {
        const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
        process.stderr.write(`migrate failed: ${redactText(message)}\n`);
        process.exitCode = 1;
      } finally {
        await pool.end();
      }
    });
}

function describe(result: MigrateResult): string {
  const lines = [`storage mode: ${result.mode}${result.dryRun ? ' (dry run)' : ''}`];
  for (const warning of result.warnings) lines.push(`WARNING: ${warning}`);
  for (const m of result.alreadyApplied) lines.push(`already applied  ${pad(m.version)} ${m.name}`);
  for (const m of result.applied)
    lines.push(`applied          ${pad(m.version)} ${m.name} (${m.durationMs} ms)`);
  for (const m of result.pending) lines.push(`pending          ${pad(m.version)} ${m.name}`);
  for (const p of result.policies.filter((change) => change.action !== 'unchanged')) {
    lines.push(`policy ${p.action.padEnd(9)} ${p.target} ${p.policy} ${p.value ?? ''}`.trimEnd());
  }
  if (result.partitionsCreated.length > 0)
    lines.push(`partitions created ahead: ${result.partitionsCreated.length}`);
  return `${lines.join('\n')}\n`;
}

function pad(version: number): string {
  return String(version).padStart(4, '0');
}
