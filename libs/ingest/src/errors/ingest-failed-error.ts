/**
 * A run that stored nothing because every requested source failed. Carries the run id (its
 * `failed` row is in `backbone.ingest_runs`), the symbols that failed and whether a later
 * attempt can help, which decides between a BullMQ retry and `UnrecoverableError`.
 */
export class IngestFailedError extends Error {
  override readonly name = 'IngestFailedError';
  readonly runId: string;
  readonly failedSymbols: readonly string[];
  readonly retriable: boolean;

  constructor(
    message: string,
    fields: { runId: string; failedSymbols: readonly string[]; retriable: boolean },
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.runId = fields.runId;
    this.failedSymbols = fields.failedSymbols;
    this.retriable = fields.retriable;
  }
}
