import { redactText } from './redact.ts';

/** One problem with the configuration: which key, what is wrong, and which source set it. */
export interface ConfigIssue {
  /** Dotted key path, e.g. `kafka.topics.market.bars.v1.partitions` (`(file)` for whole-file problems). */
  readonly path: string;
  /** Why the value was refused (already redacted). */
  readonly message: string;
  /** Where the value came from: `defaults`, `file config/x.yaml`, `env REDIS_URL`, `--set a.b`, … */
  readonly source: string;
}

/**
 * The configuration could not be loaded. The message lists every problem at once, so an operator
 * fixes them in one go; `exitCode` is the CLI convention for invalid config.
 *
 * @example
 * try { loadConfig() } catch (error) { if (error instanceof ConfigError) console.error(error.message) }
 */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  /** Exit code of a process that stops because of this error (2: bad usage or invalid config). */
  readonly exitCode = 2;
  readonly issues: readonly ConfigIssue[];

  constructor(issues: readonly ConfigIssue[], options?: { cause?: unknown }) {
    const redacted = issues.map((issue) => ({
      path: issue.path,
      message: redactText(issue.message),
      source: redactText(issue.source),
    }));
    super(formatConfigError(redacted), options);
    this.issues = redacted;
  }
}

/**
 * Renders issues as one readable, redacted message, one line per bad key.
 *
 * @example formatConfigError([{ path: 'redis.url', message: 'Invalid URL', source: 'env REDIS_URL' }])
 *   // 'Invalid configuration (1 problem):\n  - redis.url: Invalid URL [from env REDIS_URL]'
 */
export function formatConfigError(issues: readonly ConfigIssue[]): string {
  const count = `${issues.length} ${issues.length === 1 ? 'problem' : 'problems'}`;
  const lines = issues.map(
    (issue) =>
      `  - ${issue.path || '(root)'}: ${redactText(issue.message)} [from ${redactText(issue.source)}]`,
  );
  return [`Invalid configuration (${count}):`, ...lines].join('\n');
}
