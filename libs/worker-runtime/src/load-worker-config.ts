import { ConfigError, loadConfig, type SystemConfig } from '@backbone/config';

/**
 * The worker's configuration from its command line and environment. An invalid one is reported
 * on stderr (every bad key path with its source, redacted) and gives `undefined`: the worker then
 * starts nothing, and the process exits with code 2 once its event loop is empty.
 *
 * @example const config = loadWorkerConfig(); if (config !== undefined) await main(config);
 */
export function loadWorkerConfig(): SystemConfig | undefined {
  try {
    return loadConfig();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`${error.message}\n`);
    process.exitCode = error.exitCode;
    return undefined;
  }
}
