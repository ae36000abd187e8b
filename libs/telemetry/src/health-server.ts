import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { redact, redactText } from '@backbone/config';
import { listenOrExplain } from './port-in-use.ts';

/** Serves `/metrics`; PrometheusExporter's `getMetricsRequestHandler`, bound, fits. */
export type MetricsHandler = (request: IncomingMessage, response: ServerResponse) => void;

/** What `/readyz` reports: ready or not, and why, as JSON-serialisable details. */
export interface Readiness {
  ready: boolean;
  details: Record<string, unknown>;
}

/** Options for {@link startHealthServer}. */
export interface HealthServerOptions {
  /** Port to listen on; 0 picks a free one (see `HealthServer.port`). One already in use rejects with a `PortInUseError` naming its holder. */
  port: number;
  /** Interface to bind; all interfaces when omitted. */
  host?: string;
  /** Extra liveness condition beyond "the event loop answered"; live when omitted. */
  livez?: () => boolean;
  /** Readiness of the worker's dependencies; a throw or a timeout counts as not ready. */
  readyz: () => Promise<Readiness>;
  /** Prometheus text at `/metrics`; 404 there when omitted. */
  metrics?: MetricsHandler;
  /** How long `/readyz` waits for `readyz()` before answering 503. */
  readyzTimeoutMs?: number;
  /**
   * How long `close()` lets in-flight requests finish before cutting connections (default 1 s).
   * Short on purpose: a probe or scrape cut at shutdown is harmless, while a slow `/metrics`
   * scrape held open for the workers' whole 5 s shutdown deadline made a clean stop exit 1.
   */
  closeGraceMs?: number;
}

/** A running health server. */
export interface HealthServer {
  /** The port actually bound (useful with `port: 0`). */
  readonly port: number;
  /** `http://host:port` of the server. */
  readonly url: string;
  /** Stops accepting connections and resolves once every connection is closed. Idempotent. */
  close(): Promise<void>;
}

const JSON_TYPE = 'application/json; charset=utf-8';

/**
 * Starts the HTTP server every worker exposes: `/livez` (200 while the event loop answers),
 * `/readyz` (200 or 503 with JSON details) and `/metrics` (Prometheus text).
 *
 * @example
 * const health = await startHealthServer({
 *   port: 9464,
 *   readyz: async () => ({ ready: consumer.isRunning(), details: { kafka: 'ok' } }),
 *   metrics: activeTelemetry()?.metricsHandler,
 * });
 */
export async function startHealthServer(options: HealthServerOptions): Promise<HealthServer> {
  const readyzTimeoutMs = options.readyzTimeoutMs ?? 5_000;
  const closeGraceMs = options.closeGraceMs ?? 1_000;

  const server = createServer((request, response) => {
    const path = new URL(request.url ?? '/', 'http://localhost').pathname;
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      sendJson(response, 405, { error: 'method not allowed' });
      return;
    }
    switch (path) {
      case '/livez': {
        const live = options.livez?.() ?? true;
        sendJson(response, live ? 200 : 503, { status: live ? 'ok' : 'failing' });
        return;
      }
      case '/readyz':
        void answerReadyz(response, options.readyz, readyzTimeoutMs);
        return;
      case '/metrics':
        if (options.metrics === undefined) sendJson(response, 404, { error: 'metrics are not enabled' });
        else options.metrics(request, response);
        return;
      default:
        sendJson(response, 404, { error: 'not found', paths: ['/livez', '/readyz', '/metrics'] });
    }
  });
  // Health endpoints must not hold a worker's shutdown open on idle keep-alive sockets.
  server.keepAliveTimeout = 1_000;

  await listenOrExplain(server, options.port, options.host);
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;

  let closing: Promise<void> | undefined;
  return {
    port: address.port,
    url: `http://${host}:${address.port}`,
    close() {
      closing ??= new Promise<void>((resolve, reject) => {
        server.close((error) => {
          if (error) reject(error);
          else resolve();
        });
        server.closeIdleConnections();
        // In-flight requests get a grace period; after it, sockets are cut so close() settles.
        setTimeout(() => {
          server.closeAllConnections();
        }, closeGraceMs).unref();
      });
      return closing;
    },
  };
}

async function answerReadyz(
  response: ServerResponse,
  readyz: () => Promise<Readiness>,
  timeoutMs: number,
): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        reject(new Error(`readiness check did not answer within ${timeoutMs} ms`));
      }, timeoutMs);
    });
    const readiness = await Promise.race([readyz(), timeout]);
    sendJson(response, readiness.ready ? 200 : 503, {
      status: readiness.ready ? 'ready' : 'not ready',
      details: redact(readiness.details),
    });
  } catch (error) {
    const message = redactText(error instanceof Error ? error.message : String(error));
    sendJson(response, 503, { status: 'not ready', error: message });
  } finally {
    clearTimeout(timer);
  }
}

function sendJson(response: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  response.writeHead(status, { 'content-type': JSON_TYPE, 'content-length': Buffer.byteLength(text) });
  response.end(text);
}
