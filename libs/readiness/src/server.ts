import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { listenOrExplain } from '@backbone/telemetry';
import { renderDashboard, type Endpoint } from './dashboard.ts';
import type { ReadinessReporter } from './reporter.ts';
import { renderPrometheus } from './render.ts';

export interface ReadinessServerOptions {
  reporter: ReadinessReporter;
  port: number;
  host?: string;
  endpoints: readonly Endpoint[];
  /** A report older than this is stale and `/readyz` answers 503. */
  staleAfterMs: number;
  now?: () => Date;
}

export interface ReadinessServer {
  readonly port: number;
  readonly url: string;
  /** Stops accepting connections; resolves once they are closed. Idempotent. */
  close(): Promise<void>;
}

/**
 * The reporter's HTTP server: `/` dashboard, `/livez`, `/readyz` (503 unless the required
 * components are ok or warn and the report is fresh), `/report.json`, `/metrics`.
 *
 * @example const server = await startReadinessServer({ reporter, port: 8080, endpoints, staleAfterMs: 45_000 });
 */
export async function startReadinessServer(options: ReadinessServerOptions): Promise<ReadinessServer> {
  const now = options.now ?? (() => new Date());
  const { reporter } = options;
  const server = createServer((request, response) => {
    const path = new URL(request.url ?? '/', 'http://localhost').pathname;
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      sendJson(response, 405, { error: 'method not allowed' });
      return;
    }
    const report = reporter.latest();
    switch (path) {
      case '/': {
        const html = renderDashboard({
          report,
          history: reporter.history(),
          endpoints: options.endpoints,
          reporterProblems: reporter.reporterProblems(),
          now: now(),
        });
        send(response, 200, 'text/html; charset=utf-8', html);
        return;
      }
      case '/livez': {
        const live = reporter.isLive();
        sendJson(response, live ? 200 : 503, { status: live ? 'ok' : 'probe loop stuck' });
        return;
      }
      case '/readyz': {
        if (report === undefined) {
          sendJson(response, 503, { status: 'not ready', reason: 'no readiness snapshot yet' });
          return;
        }
        const ageMs = now().getTime() - Date.parse(report.snapshot.generatedAt);
        const stale = ageMs > options.staleAfterMs;
        const ready = report.groups.readiness !== 'fail' && !stale;
        sendJson(response, ready ? 200 : 503, {
          status: ready ? 'ready' : 'not ready',
          readiness: report.groups.readiness,
          snapshot: report.snapshot.id,
          generatedAt: report.snapshot.generatedAt,
          ...(stale ? { reason: `the newest snapshot is ${Math.round(ageMs / 1000)} s old` } : {}),
          problems: report.problems,
        });
        return;
      }
      case '/report.json':
        if (report === undefined) sendJson(response, 503, { error: 'no readiness snapshot yet' });
        else
          sendJson(response, 200, { ...report.snapshot, groups: report.groups, problems: report.problems });
        return;
      case '/metrics':
        send(
          response,
          200,
          'text/plain; version=0.0.4; charset=utf-8',
          renderPrometheus(report?.snapshot, now()),
        );
        return;
      default:
        sendJson(response, 404, {
          error: 'not found',
          paths: ['/', '/livez', '/readyz', '/report.json', '/metrics'],
        });
    }
  });
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
        setTimeout(() => {
          server.closeAllConnections();
        }, 2_000).unref();
      });
      return closing;
    },
  };
}

function sendJson(response: ServerResponse, status: number, body: unknown): void {
  send(response, status, 'application/json; charset=utf-8', JSON.stringify(body, null, 2));
}

function send(response: ServerResponse, status: number, type: string, text: string): void {
  response.writeHead(status, {
    'content-type': type,
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  });
  response.end(text);
}
