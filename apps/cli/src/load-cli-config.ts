import { ConfigError, resolveConfig, type ResolvedConfig, type SystemConfig } from '@backbone/config';

/**
 * Thrown after an invalid configuration has been explained on stderr, so a command stops without
 * printing the problem twice. `main.ts` swallows it; `process.exitCode` is already 2.
 */
export class ConfigExplainedError extends Error {
  override readonly name = 'ConfigExplainedError';
  constructor(cause: ConfigError) {
    super('invalid configuration (already reported)', { cause });
  }
}

/**
 * Resolves the configuration for a CLI command from `--config`, `--env-file`, `--set` and the
 * environment. On a `ConfigError` it writes the message (every bad key, redacted) to stderr, sets
 * exit code 2 and throws `ConfigExplainedError`.
 *
 * @example const { config } = resolveCliConfig(); // inside a command action
 */
export function resolveCliConfig(): ResolvedConfig {
  try {
    return resolveConfig();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`${error.message}\n`);
    process.exitCode = error.exitCode;
    throw new ConfigExplainedError(error);
  }
}

/**
 * The validated configuration for a CLI command (see `resolveCliConfig`).
 *
 * @example const config = loadCliConfig(); console.log(config.redis.keyNamespace)
 */
export function loadCliConfig(): SystemConfig {
  return resolveCliConfig().config;
}
