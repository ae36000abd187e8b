import type { ProviderFailure } from '../types.ts';

/** Every configured source failed for some symbols; each failure keeps its own error. */
export class AllSourcesFailedError extends Error {
  override readonly name = 'AllSourcesFailedError';
  readonly symbols: readonly string[];
  readonly failures: readonly ProviderFailure[];
  /** True when at least one source failed in a way a later attempt can fix. */
  readonly retriable: boolean;

  constructor(symbols: readonly string[], failures: readonly ProviderFailure[]) {
    super(
      `every source failed for ${symbols.join(',') || 'the request'}: ${failures.map((f) => `${f.provider}: ${f.error.message}`).join('; ')}`,
      { cause: failures.at(-1)?.error },
    );
    this.symbols = symbols;
    this.failures = failures;
    this.retriable = failures.some((f) => (f.error as { retriable?: unknown }).retriable === true);
  }
}
