import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { redactText } from '@backbone/config';
import {
  createProbeClients,
  createReadinessChecks,
  evaluateReadiness,
  exitCodeOf,
  renderMarkdown,
  type ReadinessReport,
} from '@backbone/readiness';
import type { Command } from 'commander';
import { loadCliConfig } from '../load-cli-config.ts';

/** Monitoring-plugin convention: the readiness could not be evaluated at all. */
const EXIT_UNKNOWN = 3;
const FORMATS = ['json', 'markdown'] as const;

/**
 * `./backbone report [--format json|markdown] [--out FILE]`: one round of live probes against the
 * configured stack. Exit 0 ok, 1 warn, 2 fail, 3 could not evaluate (monitoring-plugin
 * convention); an invalid configuration or option also exits 2, with the problem on stderr.
 * With `--out` the report goes to FILE (e.g. system_validation_report.json) and stdout gets one
 * summary line per problem.
 */
export function registerReportCommand(program: Command): void {
  program
    .command('report')
    .description('Readiness from live probes of TimescaleDB, Redis, Kafka, BullMQ and the workers.')
    .option('--format <format>', 'json or markdown', 'markdown')
    .option('--out <file>', 'write the report to this file instead of stdout')
    .action(async (options: { format: string; out?: string }) => {
      if (!(FORMATS as readonly string[]).includes(options.format)) {
        process.stderr.write(
          `report: --format must be one of ${FORMATS.join(', ')}, got ${options.format}\n`,
        );
        process.exitCode = 2;
        return;
      }
      const config = loadCliConfig();
      const clients = createProbeClients(config, () => undefined);
      const checks = createReadinessChecks(config, clients);
      let report: ReadinessReport;
      try {
        report = await evaluateReadiness(checks.checks, checks.rules);
      } catch (error) {
        process.stderr.write(`report: readiness could not be evaluated: ${describe(error)}\n`);
        process.exitCode = EXIT_UNKNOWN;
        return;
      } finally {
        await Promise.allSettled([checks.close(), clients.close()]);
      }
      const text =
        options.format === 'json'
          ? `${JSON.stringify({ ...report.snapshot, groups: report.groups, problems: report.problems }, null, 2)}\n`
          : renderMarkdown(report);
      if (options.out === undefined) {
        process.stdout.write(text);
      } else {
        try {
          await mkdir(dirname(options.out), { recursive: true });
          await writeFile(options.out, text);
        } catch (error) {
          process.stderr.write(`report: could not write ${options.out}: ${describe(error)}\n`);
          process.exitCode = EXIT_UNKNOWN;
          return;
        }
        const lines = [
          `readiness ${report.snapshot.status.toUpperCase()} (${report.snapshot.components.length} checks) written to ${options.out}`,
          ...report.problems,
        ];
        process.stdout.write(`${lines.join('\n')}\n`);
      }
      process.exitCode = exitCodeOf(report.snapshot.status);
    });
}

function describe(error: unknown): string {
  return redactText(error instanceof Error ? `${error.name}: ${error.message}` : String(error));
}
