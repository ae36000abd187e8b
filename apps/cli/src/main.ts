import { Command } from 'commander';

/**
 * `./backbone`: the operator command line. Each command lives in its own module under
 * `commands/` and registers itself here; this file only wires them together.
 */
const program = new Command('backbone')
  .description('Market data backbone: stack, workers, ingest, feed, readiness and cache operations.')
  .showHelpAfterError();

await program.parseAsync(process.argv);
