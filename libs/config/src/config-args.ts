import { ConfigError, type ConfigIssue } from './config-error.ts';

/** The command-line options that select configuration sources. */
export interface ConfigArgs {
  /** `--config FILE`: YAML file. */
  readonly configFile?: string;
  /** `--env-file FILE`: dotenv file. */
  readonly envFile?: string;
  /** `--set path=value`, in the order given (later wins). */
  readonly sets: readonly string[];
}

const OPTIONS = { '--config': 'configFile', '--env-file': 'envFile', '--set': 'sets' } as const;
type OptionName = keyof typeof OPTIONS;
const isOption = (token: string): token is OptionName => Object.hasOwn(OPTIONS, token);

/**
 * Picks `--config`, `--env-file` and `--set` (as `--x value` or `--x=value`) out of a command
 * line and ignores every other token, so it works on the argv of any command. Parsing stops at
 * `--`, after which tokens belong to something else.
 *
 * @example parseConfigArgs(['serve', 'stream-bridge', '--set=redis.tls.enabled=true'])
 *   // { sets: ['redis.tls.enabled=true'] }
 */
export function parseConfigArgs(argv: readonly string[]): ConfigArgs {
  let configFile: string | undefined;
  let envFile: string | undefined;
  const sets: string[] = [];
  const issues: ConfigIssue[] = [];
  for (let index = 0; index < argv.length; index++) {
    const token = argv[index] ?? '';
    if (token === '--') break;
    const equals = token.indexOf('=');
    const name = equals === -1 ? token : token.slice(0, equals);
    if (!isOption(name)) continue;
    let value: string | undefined;
    if (equals !== -1) {
      value = token.slice(equals + 1);
    } else {
      const next = argv[index + 1];
      if (next !== undefined && !next.startsWith('--')) {
        value = next;
        index++;
      }
    }
    if (value === undefined || value === '') {
      issues.push({ path: name, message: 'needs a value', source: 'command line' });
      continue;
    }
    if (OPTIONS[name] === 'configFile') configFile = value;
    else if (OPTIONS[name] === 'envFile') envFile = value;
    else sets.push(value);
  }
  if (issues.length > 0) throw new ConfigError(issues);
  return {
    ...(configFile === undefined ? {} : { configFile }),
    ...(envFile === undefined ? {} : { envFile }),
    sets,
  };
}
