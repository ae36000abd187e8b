/**
 * Base of every provider failure: which provider, which URL (secrets redacted), and whether
 * trying again later can help. `retriable` drives the HTTP retries here and, above, the ingest
 * job's retries versus BullMQ's `UnrecoverableError`.
 */
export class ProviderError extends Error {
  override readonly name: string = 'ProviderError';
  readonly provider: string;
  readonly url: string;
  readonly retriable: boolean;

  constructor(
    message: string,
    fields: { provider: string; url: string; retriable: boolean },
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.provider = fields.provider;
    this.url = fields.url;
    this.retriable = fields.retriable;
  }
}
