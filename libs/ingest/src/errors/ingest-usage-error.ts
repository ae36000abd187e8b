/** One thing wrong with an ingest request, named by the option or field that carried it. */
export interface UsageProblem {
  /** `provider`, `symbols[1]`, `from`, `file` … */
  field: string;
  message: string;
}

/**
 * The ingest request itself is wrong (unknown provider, reversed date range, a symbol that is
 * not a symbol, a missing file): nothing was fetched or written, and retrying cannot help. The
 * CLI exits 2 with this message; the worker fails the job with `UnrecoverableError`.
 */
export class IngestUsageError extends Error {
  override readonly name = 'IngestUsageError';
  readonly problems: readonly UsageProblem[];
  readonly retriable = false;

  constructor(problems: readonly UsageProblem[], options?: { cause?: unknown }) {
    super(
      `invalid ingest request: ${problems.map((problem) => `${problem.field}: ${problem.message}`).join('; ')}`,
      options,
    );
    this.problems = problems;
  }
}
