import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { yahooChartSchema } from '../providers/yahoo-provider.ts';
import { startReplayServer, type ReplayServer } from '../test-support/replay-server.ts';
import { createHttpClient, parseRetryAfter, type HttpClientOptions, type RetryEvent } from './http-client.ts';
import { ProviderRequestError } from './provider-request-error.ts';
import { ProviderResponseError } from './provider-response-error.ts';

const chartPath = (symbol: string, interval = '1d'): string =>
  `v8/finance/chart/${encodeURIComponent(symbol)}?period1=1794787200&period2=1795678380&interval=${interval}`;

const yahooError = (body: unknown): string | undefined => {
  const parsed = z
    .object({ chart: z.object({ error: z.object({ code: z.string(), description: z.string() }) }) })
    .safeParse(body);
  return parsed.success
    ? `${parsed.data.chart.error.code}: ${parsed.data.chart.error.description}`
    : undefined;
};

let server: ReplayServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function clientFor(recordings: string[], options: Partial<HttpClientOptions> = {}) {
  server = await startReplayServer(recordings);
  const retries: RetryEvent[] = [];
  const client = createHttpClient({
    provider: 'yahoo',
    baseUrl: server.url,
    minRetryDelayMs: 1,
    maxRetryDelayMs: 5,
    extractApiError: yahooError,
    onRetry: (event) => retries.push(event),
    ...options,
  });
  return { client, retries, requests: server.requests };
}

async function failure(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the call to fail');
}

describe('createHttpClient retries', () => {
  it('waits out Retry-After on 429, then succeeds', async () => {
    const sentAt: number[] = [];
    const { client, retries, requests } = await clientFor(['yahoo/gbpusd-429-then-ok.json'], {
      fetch: (input, init) => {
        sentAt.push(performance.now());
        return fetch(input, init);
      },
    });
    const chart = await client.getJson(chartPath('GBPUSD=X'), yahooChartSchema);
    expect(chart.chart.result[0]?.meta.symbol).toBe('GBPUSD=X');
    expect(requests).toHaveLength(2);
    expect(retries).toHaveLength(1);
    expect(retries[0]).toMatchObject({
      attempt: 1,
      error: { status: 429, reason: 'http_status', retriable: true },
    });
    expect(retries[0]?.delayMs).toBeGreaterThanOrEqual(1000);
    // The second attempt left at least Retry-After (1 s) after the first answer arrived.
    expect((sentAt[1] ?? 0) - (sentAt[0] ?? 0)).toBeGreaterThanOrEqual(998);
  });

  it('retries 500 and 502 with backoff, then succeeds', async () => {
    const { client, retries, requests } = await clientFor(['yahoo/usdjpy-500-twice-then-ok.json']);
    const chart = await client.getJson(chartPath('USDJPY=X'), yahooChartSchema);
    expect(chart.chart.result[0]?.timestamp).toHaveLength(2);
    expect(requests).toHaveLength(3);
    expect(
      retries.map((r) => (r.error instanceof ProviderResponseError ? r.error.status : r.error.name)),
    ).toEqual([500, 502]);
  });

  it('does not retry a 404 and names the API error', async () => {
    const { client, requests } = await clientFor(['yahoo/not-found-404.json']);
    const error = await failure(client.getJson(chartPath('NOSUCH'), yahooChartSchema));
    expect(error).toBeInstanceOf(ProviderResponseError);
    expect(error).toMatchObject({ provider: 'yahoo', status: 404, reason: 'api_error', retriable: false });
    expect((error as Error).message).toContain('Not Found: No data found, symbol may be delisted');
    expect((error as ProviderResponseError).url).toContain('/v8/finance/chart/NOSUCH?period1=');
    expect(requests).toHaveLength(1);
  });

  it('treats chart.error inside a 200 answer as an API error, not data', async () => {
    const { client, requests } = await clientFor(['yahoo/chart-error-200.json']);
    await expect(client.getJson(chartPath('EURCHF=X'), yahooChartSchema)).rejects.toMatchObject({
      reason: 'api_error',
      status: 200,
      retriable: false,
    });
    expect(requests).toHaveLength(1);
  });

  it('gives up on a maintenance page after the retries, saying it was HTML and retriable', async () => {
    const { client, requests } = await clientFor(['yahoo/maintenance-503.json'], { retries: 2 });
    const error = await failure(client.getJson(chartPath('AUDUSD=X'), yahooChartSchema));
    expect(error).toMatchObject({ reason: 'http_status', status: 503, retriable: true });
    expect((error as Error).message).toContain('HTML page: <!DOCTYPE html>');
    expect(requests).toHaveLength(3);
  });

  it('refuses an HTML page answered with 200 without retrying', async () => {
    const { client, requests } = await clientFor(['yahoo/consent-html-200.json']);
    await expect(client.getJson(chartPath('NZDUSD=X'), yahooChartSchema)).rejects.toMatchObject({
      reason: 'html',
      status: 200,
      retriable: false,
    });
    expect(requests).toHaveLength(1);
  });

  it('retries a truncated JSON body, and reports truncation when it persists', async () => {
    const { client, requests } = await clientFor(
      ['yahoo/usdcad-truncated-then-ok.json', 'yahoo/usdsek-always-truncated.json'],
      {
        retries: 1,
      },
    );
    const chart = await client.getJson(chartPath('USDCAD=X'), yahooChartSchema);
    expect(chart.chart.result[0]?.meta.symbol).toBe('USDCAD=X');
    const error = await failure(client.getJson(chartPath('USDSEK=X'), yahooChartSchema));
    expect(error).toMatchObject({ reason: 'truncated_json', retriable: true });
    expect(requests.map((r) => r.path)).toEqual([
      '/v8/finance/chart/USDCAD=X',
      '/v8/finance/chart/USDCAD=X',
      '/v8/finance/chart/USDSEK=X',
      '/v8/finance/chart/USDSEK=X',
    ]);
  });

  it('retries a connection dropped mid-body as a network error', async () => {
    const { client, retries } = await clientFor(['yahoo/usdchf-connection-cut-then-ok.json']);
    const chart = await client.getJson(chartPath('USDCHF=X'), yahooChartSchema);
    expect(chart.chart.result[0]?.meta.symbol).toBe('USDCHF=X');
    expect(retries[0]?.error).toBeInstanceOf(ProviderRequestError);
    expect(retries[0]?.error).toMatchObject({ reason: 'network', retriable: true });
  });

  it('does not wait out a Retry-After longer than allowed', async () => {
    const { client, requests } = await clientFor(['yahoo/gbpusd-429-then-ok.json'], { maxRetryAfterMs: 500 });
    await expect(client.getJson(chartPath('GBPUSD=X'), yahooChartSchema)).rejects.toMatchObject({
      status: 429,
      retriable: true,
      retryAfterMs: 1000,
    });
    expect(requests).toHaveLength(1);
  });
});

describe('createHttpClient validation', () => {
  it('rejects a body that does not match the schema, naming the field', async () => {
    const { client } = await clientFor(['yahoo/eurgbp-mismatched-arrays.json']);
    const error = await failure(client.getJson(chartPath('EURGBP=X'), yahooChartSchema));
    expect(error).toMatchObject({ reason: 'schema_mismatch', retriable: false });
    expect((error as Error).message).toContain('has 2 values for 3 timestamps');
    expect((error as Error).message).toContain('close');
  });

  it('rejects a body that is not JSON', async () => {
    const { client } = await clientFor(['yahoo/not-json.json']);
    await expect(client.getJson(chartPath('EURJPY=X'), yahooChartSchema)).rejects.toMatchObject({
      reason: 'invalid_json',
      retriable: false,
    });
  });
});

describe('createHttpClient limits', () => {
  it('times out a server that never answers, retries, and says so', async () => {
    const hanging = createServer(() => {
      // never answers
    });
    await new Promise<void>((resolve) => hanging.listen(0, '127.0.0.1', resolve));
    try {
      const retries: RetryEvent[] = [];
      const client = createHttpClient({
        provider: 'yahoo',
        baseUrl: `http://127.0.0.1:${(hanging.address() as AddressInfo).port}`,
        timeoutMs: 50,
        retries: 1,
        minRetryDelayMs: 1,
        onRetry: (event) => retries.push(event),
      });
      const error = await failure(client.getJson('v8/finance/chart/X', z.unknown()));
      expect(error).toBeInstanceOf(ProviderRequestError);
      expect(error).toMatchObject({ reason: 'timeout', retriable: true });
      expect(retries).toHaveLength(1);
    } finally {
      hanging.closeAllConnections();
      await new Promise((resolve) => hanging.close(resolve));
    }
  });

  it('stops at once when the caller aborts, with the caller’s reason', async () => {
    const { client, requests } = await clientFor(['yahoo/maintenance-503.json'], {
      retries: 5,
      minRetryDelayMs: 60_000,
    });
    const controller = new AbortController();
    const call = client.getJson(chartPath('AUDUSD=X'), yahooChartSchema, controller.signal);
    const reason = new Error('shutting down');
    setImmediate(() => {
      controller.abort(reason);
    });
    await expect(call).rejects.toBe(reason);
    expect(requests.length).toBeLessThanOrEqual(1);
  });

  it('spaces request starts by the provider rate limit', async () => {
    // Measured where the client sends, not where the server receives: connection set-up varies.
    const sentAt: number[] = [];
    const { client, requests } = await clientFor(['yahoo/spy-1d.json'], {
      minIntervalMs: 150,
      fetch: (input, init) => {
        sentAt.push(performance.now());
        return fetch(input, init);
      },
    });
    await Promise.all([1, 2, 3].map(() => client.getJson(chartPath('SPY'), yahooChartSchema)));
    expect(requests).toHaveLength(3);
    const gaps = sentAt.slice(1).map((at, i) => at - (sentAt[i] ?? 0));
    expect(gaps).toHaveLength(2);
    // The limiter spaces actual starts; what is left is the microtask hop into fetch.
    for (const gap of gaps) expect(gap).toBeGreaterThanOrEqual(149);
  });
});

describe('parseRetryAfter', () => {
  it('reads seconds and HTTP dates', () => {
    expect(parseRetryAfter('3')).toBe(3000);
    expect(parseRetryAfter('Thu, 26 Nov 2026 16:00:10 GMT', Date.parse('2026-11-26T16:00:00Z'))).toBe(10_000);
    expect(parseRetryAfter(null)).toBeUndefined();
    expect(parseRetryAfter('soon')).toBeUndefined();
  });
});
