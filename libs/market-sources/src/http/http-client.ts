import { setTimeout as sleep } from 'node:timers/promises';
import { redactText } from '@backbone/config';
import pRetry from 'p-retry';
import { z } from 'zod';
import { ProviderError } from './provider-error.ts';
import { ProviderRequestError } from './provider-request-error.ts';
import { ProviderResponseError } from './provider-response-error.ts';
import { createRateLimiter } from './rate-limiter.ts';

export interface HttpClientOptions {
  /** Provider name, carried by every error. */
  provider: string;
  baseUrl: string;
  /** Per attempt, including reading the body. Default 15 s. */
  timeoutMs?: number;
  /** Retries after the first attempt, for 429, 5xx, timeouts and network errors only. Default 3. */
  retries?: number;
  /** First backoff delay; doubles per retry, randomised ×1–2 (jitter). Default 500 ms. */
  minRetryDelayMs?: number;
  /** Upper bound of one backoff delay. Default 30 s. */
  maxRetryDelayMs?: number;
  /** A Retry-After longer than this is not waited out: the call fails (retriable) instead. Default 60 s. */
  maxRetryAfterMs?: number;
  /** Minimum spacing between request starts (the provider's rate limit). Default 0. */
  minIntervalMs?: number;
  headers?: Readonly<Record<string, string>>;
  /** Finds an error the API reported inside its own JSON envelope; undefined when there is none. */
  extractApiError?: (body: unknown) => string | undefined;
  /** Told about every retry (for logs and metrics); the URL is already redacted. */
  onRetry?: (event: RetryEvent) => void;
  fetch?: typeof globalThis.fetch;
}

export interface RetryEvent {
  provider: string;
  url: string;
  /** The attempt that failed, 1-based. */
  attempt: number;
  /** How long the client waits before the next attempt (backoff, or Retry-After when longer). */
  delayMs: number;
  error: ProviderError;
}

/** The HTTP client the providers share. */
export interface HttpClient {
  /**
   * GETs `path` (with its query string) under the base URL and returns the body validated by
   * `schema`. Throws `ProviderResponseError` / `ProviderRequestError`; the caller's abort reason
   * as is.
   */
  getJson<T>(path: string, schema: z.ZodType<T>, signal?: AbortSignal): Promise<T>;
}

const MAX_SNIPPET = 200;

/**
 * A JSON-over-HTTP client with timeouts, retries (exponential backoff with jitter, honouring
 * Retry-After) on 429 / 5xx / network errors only, a per-provider rate limit, and zod validation
 * of every answer. URLs in errors and events pass through `redactText`, so an `api_key=` query
 * parameter never leaves as text.
 *
 * @example const http = createHttpClient({ provider: 'yahoo', baseUrl: 'https://query1.finance.yahoo.com', minIntervalMs: 500 });
 */
export function createHttpClient(options: HttpClientOptions): HttpClient {
  const {
    provider,
    timeoutMs = 15_000,
    retries = 3,
    minRetryDelayMs = 500,
    maxRetryDelayMs = 30_000,
    maxRetryAfterMs = 60_000,
    headers = {},
    extractApiError = () => undefined,
    onRetry,
  } = options;
  const fetchImpl = options.fetch ?? globalThis.fetch;
  const limiter = createRateLimiter(options.minIntervalMs ?? 0);
  const baseUrl = options.baseUrl.endsWith('/') ? options.baseUrl : `${options.baseUrl}/`;

  async function attempt<T>(
    url: URL,
    safeUrl: string,
    schema: z.ZodType<T>,
    signal: AbortSignal | undefined,
  ): Promise<T> {
    await limiter.take(signal);
    const attemptSignal =
      signal === undefined
        ? AbortSignal.timeout(timeoutMs)
        : AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]);
    let status: number;
    let contentType: string;
    let retryAfter: string | null;
    let text: string;
    try {
      const response = await fetchImpl(url, {
        headers: { accept: 'application/json', ...headers },
        signal: attemptSignal,
      });
      status = response.status;
      contentType = response.headers.get('content-type') ?? '';
      retryAfter = response.headers.get('retry-after');
      text = await response.text();
    } catch (error) {
      // The caller's own abort is not a provider failure: let it through untouched.
      if (signal?.aborted === true) throw signal.reason;
      const timedOut = error instanceof Error && error.name === 'TimeoutError';
      throw new ProviderRequestError(
        {
          provider,
          url: safeUrl,
          reason: timedOut ? 'timeout' : 'network',
          detail: timedOut ? `no complete answer within ${timeoutMs} ms` : describeCause(error),
        },
        { cause: error },
      );
    }

    const fail = (
      reason: ProviderResponseError['reason'],
      retriable: boolean,
      detail: string,
      cause?: unknown,
    ): ProviderResponseError => {
      const retryAfterMs = parseRetryAfter(retryAfter);
      return new ProviderResponseError(
        {
          provider,
          url: safeUrl,
          status,
          reason,
          retriable,
          detail: redactText(detail),
          ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
        },
        cause === undefined ? undefined : { cause },
      );
    };
    const looksLikeHtml = /html/i.test(contentType) || /^\s*</.test(text);
    const parsed = parseJson(text);
    const apiError = parsed.ok ? extractApiError(parsed.value) : undefined;

    if (status === 429 || status >= 500) {
      throw fail(
        'http_status',
        true,
        apiError ?? `${looksLikeHtml ? 'HTML page' : 'body'}: ${snippet(text)}`,
      );
    }
    if (status < 200 || status >= 300) {
      throw apiError === undefined
        ? fail('http_status', false, snippet(text))
        : fail('api_error', false, apiError);
    }
    // A page (maintenance, consent, captcha) answered with 200 is not what was asked for, and
    // retrying within this call will not change it.
    if (!parsed.ok && looksLikeHtml)
      throw fail('html', false, `expected JSON, got an HTML page: ${snippet(text)}`);
    if (!parsed.ok) {
      // A body cut short is a transfer failure: a new attempt usually gets the whole body.
      if (parsed.truncated) {
        throw fail(
          'truncated_json',
          true,
          `JSON ends early (${text.length} bytes): ${parsed.message}`,
          parsed.error,
        );
      }
      throw fail('invalid_json', false, `${parsed.message}: ${snippet(text)}`, parsed.error);
    }
    if (apiError !== undefined) throw fail('api_error', false, apiError);
    const result = schema.safeParse(parsed.value);
    if (!result.success) {
      throw fail(
        'schema_mismatch',
        false,
        z.prettifyError(result.error).slice(0, 4 * MAX_SNIPPET),
        result.error,
      );
    }
    return result.data;
  }

  return {
    async getJson<T>(path: string, schema: z.ZodType<T>, signal?: AbortSignal): Promise<T> {
      const url = new URL(path.replace(/^\//, ''), baseUrl);
      const safeUrl = redactText(url.toString());
      return pRetry(() => attempt(url, safeUrl, schema, signal), {
        retries,
        factor: 2,
        minTimeout: minRetryDelayMs,
        maxTimeout: maxRetryDelayMs,
        randomize: true,
        ...(signal === undefined ? {} : { signal }),
        shouldRetry: ({ error }) =>
          error instanceof ProviderError &&
          error.retriable &&
          !(error instanceof ProviderResponseError && (error.retryAfterMs ?? 0) > maxRetryAfterMs),
        onFailedAttempt: async ({ error, attemptNumber, retriesLeft, retryDelay }) => {
          if (!(error instanceof ProviderError) || !error.retriable || retriesLeft === 0) return;
          const retryAfterMs = error instanceof ProviderResponseError ? error.retryAfterMs : undefined;
          if (retryAfterMs !== undefined && retryAfterMs > maxRetryAfterMs) return;
          // p-retry waits `retryDelay` after this callback; a longer Retry-After is made up here.
          const extra = Math.max(0, (retryAfterMs ?? 0) - retryDelay);
          onRetry?.({ provider, url: safeUrl, attempt: attemptNumber, delayMs: retryDelay + extra, error });
          if (extra > 0) await sleep(extra, undefined, signal === undefined ? {} : { signal });
        },
      });
    },
  };
}

type JsonResult =
  { ok: true; value: unknown } | { ok: false; truncated: boolean; message: string; error: unknown };

function parseJson(text: string): JsonResult {
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const trimmed = text.trim();
    // V8 says "Unexpected end of JSON input" or "Unterminated string" for a body cut short.
    const truncated =
      trimmed.length > 0 && /^[[{]/.test(trimmed) && /end of JSON|Unterminated/i.test(message);
    return { ok: false, truncated, message, error };
  }
}

/** Retry-After as delta-seconds or an HTTP date, in ms; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | null, now: number = Date.now()): number | undefined {
  if (value === null || value.trim() === '') return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

function snippet(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > MAX_SNIPPET ? `${flat.slice(0, MAX_SNIPPET)}…` : flat;
}

function describeCause(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause instanceof Error ? `: ${error.cause.message}` : '';
  return redactText(`${error.message}${cause}`);
}
