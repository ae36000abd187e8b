import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { afterEach, describe, expect, it } from 'vitest';
import { startHealthServer, type HealthServer, type Readiness } from './health-server.ts';
import { PortInUseError } from './port-in-use.ts';

describe('startHealthServer', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function start(
    options: Partial<Parameters<typeof startHealthServer>[0]> = {},
  ): Promise<HealthServer> {
    const server = await startHealthServer({
      port: 0,
      host: '127.0.0.1',
      readyz: () => Promise.resolve({ ready: true, details: {} }),
      ...options,
    });
    cleanups.push(() => server.close());
    return server;
  }

  it('finding 4.5: a port already in use is a PortInUseError naming the port and the process holding it', async () => {
    const holder = await start();
    const error: unknown = await startHealthServer({
      port: holder.port,
      host: '127.0.0.1',
      readyz: () => Promise.resolve({ ready: true, details: {} }),
    }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(PortInUseError);
    expect(error).toMatchObject({ port: holder.port, holder: { pid: process.pid } });
    expect((error as Error).message).toContain(
      `port ${holder.port} on 127.0.0.1 is already in use by pid ${process.pid}`,
    );
  });

  it('answers /livez with 200 while the process is live, 503 when the liveness condition fails', async () => {
    let live = true;
    const server = await start({ livez: () => live });
    const ok = await fetch(`${server.url}/livez`);
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ status: 'ok' });
    live = false;
    expect((await fetch(`${server.url}/livez`)).status).toBe(503);
  });

  it('answers /readyz with 200 or 503 and the details, redacted', async () => {
    let readiness: Readiness = { ready: true, details: { kafka: 'connected' } };
    const server = await start({ readyz: () => Promise.resolve(readiness) });

    const ready = await fetch(`${server.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready', details: { kafka: 'connected' } });

    readiness = { ready: false, details: { database: 'postgres://app:hunter2@db/backbone unreachable' } };
    const notReady = await fetch(`${server.url}/readyz`);
    expect(notReady.status).toBe(503);
    expect(await notReady.json()).toEqual({
      status: 'not ready',
      details: { database: 'postgres://app:***@db/backbone unreachable' },
    });
  });

  it('answers /readyz with 503 when the check throws or does not answer in time', async () => {
    let mode: 'throw' | 'hang' = 'throw';
    const server = await start({
      readyzTimeoutMs: 100,
      readyz: () =>
        mode === 'throw'
          ? Promise.reject(new Error('redis://:hunter2@cache:6379 refused'))
          : new Promise<Readiness>(() => undefined),
    });

    const thrown = await fetch(`${server.url}/readyz`);
    expect(thrown.status).toBe(503);
    expect(await thrown.json()).toEqual({ status: 'not ready', error: 'redis://:***@cache:6379 refused' });

    mode = 'hang';
    const hung = await fetch(`${server.url}/readyz`);
    expect(hung.status).toBe(503);
    expect(await hung.json()).toEqual({
      status: 'not ready',
      error: 'readiness check did not answer within 100 ms',
    });
  });

  it('serves Prometheus text at /metrics, showing a counter the code incremented', async () => {
    const prometheus = new PrometheusExporter({ preventServerStart: true });
    const meterProvider = new MeterProvider({ readers: [prometheus] });
    cleanups.push(() => meterProvider.shutdown());
    const rows = meterProvider.getMeter('telemetry-test').createCounter('backbone.ingest.rows', {
      description: 'Rows handled by ingest, by result',
    });
    rows.add(3, { result: 'inserted' });
    rows.add(1, { result: 'rejected' });

    const server = await start({
      metrics: (request, response) => {
        prometheus.getMetricsRequestHandler(request, response);
      },
    });
    const response = await fetch(`${server.url}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain/);
    const text = await response.text();
    expect(text).toContain('# TYPE backbone_ingest_rows_total counter');
    expect(text).toMatch(/^backbone_ingest_rows_total\{[^}]*result="inserted"[^}]*\} 3\b/m);
    expect(text).toMatch(/^backbone_ingest_rows_total\{[^}]*result="rejected"[^}]*\} 1\b/m);
  });

  it('answers 404 for unknown paths and for /metrics when no handler is mounted, 405 for other methods', async () => {
    const server = await start();
    expect((await fetch(`${server.url}/nope`)).status).toBe(404);
    expect((await fetch(`${server.url}/metrics`)).status).toBe(404);
    expect((await fetch(`${server.url}/livez`, { method: 'POST' })).status).toBe(405);
  });

  it('closes gracefully and idempotently, refusing new connections afterwards', async () => {
    const server = await startHealthServer({
      port: 0,
      host: '127.0.0.1',
      readyz: () => Promise.resolve({ ready: true, details: {} }),
    });
    // A keep-alive connection left open by fetch must not hold close() up.
    expect((await fetch(`${server.url}/livez`)).status).toBe(200);
    const first = server.close();
    expect(server.close()).toBe(first);
    await first;
    await expect(fetch(`${server.url}/livez`)).rejects.toThrow();
  });
});
