import { renderConfig } from '@backbone/config';
import { type Command, Option } from 'commander';
import { resolveCliConfig } from '../load-cli-config.ts';

/** `./backbone config print`: the effective configuration with secrets redacted. */
export function registerConfigCommand(program: Command): void {
  const config = program.command('config').description('Inspect the effective configuration.');
  config
    .command('print')
    .description(
      'Print the effective configuration (defaults < file < env file < env < --set), secrets redacted.',
    )
    .addOption(new Option('--format <format>', 'output format').choices(['yaml', 'json']).default('yaml'))
    .action((options: { format: 'yaml' | 'json' }) => {
      process.stdout.write(renderConfig(resolveCliConfig(), options.format));
    });
}
