import type { Command } from 'commander';

const WORKERS = ['timescale-ingestor', 'stream-bridge', 'cache-warmer', 'readiness-reporter'];

/**
 * `./backbone serve <worker>`. The launcher script replaces itself with the worker process
 * (`exec node --import <telemetry> apps/<worker>/src/main.ts`), so a valid call never reaches this
 * module: it exists so that `--help` lists the command and a bad worker name gets a clear usage
 * error (exit 2) instead of an unknown-command message.
 */
export function registerServeCommand(program: Command): void {
  program
    .command('serve')
    .description('Run one worker in the foreground, exactly what its container runs')
    .argument('<worker>', WORKERS.join(' | '))
    .action((worker: string) => {
      const reason = WORKERS.includes(worker)
        ? `serve must be run through the ./backbone launcher`
        : `unknown worker "${worker}"; expected one of ${WORKERS.join(', ')}`;
      process.stderr.write(`backbone serve: ${reason}\n`);
      process.exitCode = 2;
    });
}
