import { ProviderError } from './provider-error.ts';

/**
 * What was wrong with an answer: an HTTP error status, an HTML page instead of JSON, JSON cut
 * short, JSON that is not JSON, a body that does not match the documented shape, or an error the
 * API reported in its own envelope (Yahoo `chart.error`, FRED `error_message`).
 */
export type ProviderResponseReason =
  'http_status' | 'html' | 'truncated_json' | 'invalid_json' | 'schema_mismatch' | 'api_error';

/** A provider answered, but not with something usable. */
export class ProviderResponseError extends ProviderError {
  override readonly name = 'ProviderResponseError';
  readonly status: number;
  readonly reason: ProviderResponseReason;
  /** Milliseconds the server asked us to wait (Retry-After), when it said. */
  readonly retryAfterMs: number | undefined;

  constructor(
    fields: {
      provider: string;
      url: string;
      status: number;
      reason: ProviderResponseReason;
      retriable: boolean;
      detail: string;
      retryAfterMs?: number;
    },
    options?: { cause?: unknown },
  ) {
    super(
      `${fields.provider}: ${fields.reason} (HTTP ${fields.status}) from ${fields.url}: ${fields.detail}`,
      fields,
      options,
    );
    this.status = fields.status;
    this.reason = fields.reason;
    this.retryAfterMs = fields.retryAfterMs;
  }
}
