import { Command, CommanderError } from 'commander';
import { ConfigExplainedError } from './load-cli-config.ts';

/**
 * `./backbone`: the operator command line. Each command lives in its own module under
 * `commands/` and registers itself here; this file only wires them together.
 */
const program = new Command('backbone')
  .description('Market data backbone: stack, workers, ingest, feed, readiness and cache operations.')
  .showHelpAfterError()
  // Bad usage exits 2 (commander's own default is 1); help and version exit 0.
  .exitOverride()
  // Configuration sources, accepted by every command (read by @backbone/config from argv).
  .option('--config <file>', 'YAML configuration file (or BACKBONE_CONFIG)')
  .option('--env-file <file>', 'dotenv file with BACKBONE_* and conventional variables')
  .option('--set <path=value>', 'override one key, e.g. redis.keyNamespace=dev: (repeatable)', collect, []);

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/**
 * Command modules, loaded on demand: a command pulls in only its own clients (Kafka, PostgreSQL,
 * OpenTelemetry …), so `./backbone stack status` does not pay for loading all of them.
 */
const COMMANDS: Record<string, () => Promise<(program: Command) => void>> = {
  cache: async () => (await import('./commands/cache.ts')).registerCacheCommand,
  config: async () => (await import('./commands/config.ts')).registerConfigCommand,
  drill: async () => (await import('./commands/drill.ts')).registerDrillCommand,
  feed: async () => (await import('./commands/feed.ts')).registerFeedCommand,
  ingest: async () => (await import('./commands/ingest.ts')).registerIngestCommand,
  migrate: async () => (await import('./commands/migrate.ts')).registerMigrateCommand,
  offsets: async () => (await import('./commands/offsets.ts')).registerOffsetsCommand,
  report: async () => (await import('./commands/report.ts')).registerReportCommand,
  serve: async () => (await import('./commands/serve.ts')).registerServeCommand,
  stack: async () => (await import('./commands/stack.ts')).registerStackCommand,
  start: async () => (await import('./commands/start.ts')).registerStartCommand,
  topics: async () => (await import('./commands/topics.ts')).registerTopicsCommand,
};

/** The command named on the command line, skipping global options and their values. */
function requestedCommand(argv: readonly string[]): string | undefined {
  for (let index = 0; index < argv.length; index++) {
    const token = argv[index] ?? '';
    if (['--config', '--env-file', '--set'].includes(token)) index++;
    else if (!token.startsWith('-')) return token;
  }
  return undefined;
}

const requested = requestedCommand(process.argv.slice(2));
const toLoad = requested !== undefined && requested in COMMANDS ? [requested] : Object.keys(COMMANDS);
for (const name of toLoad) {
  const load = COMMANDS[name];
  if (load !== undefined) (await load())(program);
}

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) {
    // commander has already printed the message (and the help, for a usage error).
    process.exitCode = error.exitCode === 0 ? 0 : 2;
  } else if (!(error instanceof ConfigExplainedError)) {
    // A ConfigExplainedError was already written to stderr with exit code 2 by loadCliConfig.
    throw error;
  }
}
