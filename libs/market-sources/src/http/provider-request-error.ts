import { ProviderError } from './provider-error.ts';

/** The request got no answer: it timed out or the connection failed. Always retriable. */
export class ProviderRequestError extends ProviderError {
  override readonly name = 'ProviderRequestError';
  readonly reason: 'timeout' | 'network';

  constructor(
    fields: { provider: string; url: string; reason: 'timeout' | 'network'; detail: string },
    options?: { cause?: unknown },
  ) {
    super(
      `${fields.provider}: ${fields.reason} requesting ${fields.url}: ${fields.detail}`,
      { ...fields, retriable: true },
      options,
    );
    this.reason = fields.reason;
  }
}
