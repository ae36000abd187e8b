import { Command } from 'commander';
import { registerCacheCommand } from './commands/cache.ts';
import { registerConfigCommand } from './commands/config.ts';
import { registerFeedCommand } from './commands/feed.ts';
import { registerIngestCommand } from './commands/ingest.ts';
import { registerMigrateCommand } from './commands/migrate.ts';
import { registerReportCommand } from './commands/report.ts';
import { registerStackCommand } from './commands/stack.ts';
import { registerTopicsCommand } from './commands/topics.ts';
import { ConfigExplainedError } from './load-cli-config.ts';

/**
 * `./backbone`: the operator command line. Each command lives in its own module under
 * `commands/` and registers itself here; this file only wires them together.
 */
const program = new Command('backbone')
  .description('Market data backbone: stack, workers, ingest, feed, readiness and cache operations.')
  .showHelpAfterError()
  // Configuration sources, accepted by every command (read by @backbone/config from argv).
  .option('--config <file>', 'YAML configuration file (or BACKBONE_CONFIG)')
  .option('--env-file <file>', 'dotenv file with BACKBONE_* and conventional variables')
  .option('--set <path=value>', 'override one key, e.g. redis.keyNamespace=dev: (repeatable)', collect, []);

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

registerCacheCommand(program);
registerConfigCommand(program);
registerFeedCommand(program);
registerIngestCommand(program);
registerMigrateCommand(program);
registerReportCommand(program);
registerStackCommand(program);
registerTopicsCommand(program);

try {
  await program.parseAsync(process.argv);
} catch (error) {
  // Already written to stderr with exit code 2 by loadCliConfig.
  if (!(error instanceof ConfigExplainedError)) throw error;
}
