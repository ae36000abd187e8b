import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SpanFileRecord } from './file-span-exporter.ts';

const run = promisify(execFile);
const workspaceRoot = resolve(import.meta.dirname, '../../..');
const probe = 'libs/telemetry/src/test-support/register-probe.ts';

interface ProbeOutput {
  started: boolean;
  resource?: Record<string, string>;
  traceId?: string;
  metricsText?: string;
}

async function runProbe(...args: string[]): Promise<ProbeOutput> {
  const { stdout } = await run(
    process.execPath,
    ['--import', '@backbone/telemetry/register', probe, ...args],
    {
      cwd: workspaceRoot,
    },
  );
  const last = stdout.trim().split('\n').at(-1) ?? '';
  return JSON.parse(last) as ProbeOutput;
}

// Each case starts a Node process that loads the whole SDK; that is slow on a busy machine.
describe('node --import @backbone/telemetry/register', { timeout: 60_000 }, () => {
  let directory: string;
  beforeAll(async () => {
    directory = await mkdtemp(join(tmpdir(), 'telemetry-register-'));
  });
  afterAll(async () => {
    await rm(directory, { recursive: true, force: true });
  });

  it('starts the SDK before the entry script: resource, Prometheus /metrics and the span file', async () => {
    const spanFile = join(directory, 'spans.jsonl');
    const output = await runProbe('--set', `telemetry.spanFileExporterPath=${spanFile}`);

    expect(output.started).toBe(true);
    expect(output.resource).toMatchObject({
      'service.name': 'backbone-register-probe',
      'service.version': '0.1.0',
    });
    // The same `<host>:<pid>` as the supervisor's heartbeat, so a trace and a heartbeat correlate.
    expect(output.resource?.['service.instance.id']).toMatch(/^.+:\d+$/);
    expect(output.metricsText).toMatch(/^backbone_probe_events_total\{[^}]*result="ok"[^}]*\} 2\b/m);

    const records = (await readFile(spanFile, 'utf8'))
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as SpanFileRecord);
    expect(records).toEqual([
      expect.objectContaining({
        name: 'probe work',
        traceId: output.traceId,
        kind: 'INTERNAL',
        resource: {
          'service.name': 'backbone-register-probe',
          'service.instance.id': output.resource?.['service.instance.id'],
        },
      }),
    ]);
    expect(records[0]).not.toHaveProperty('parentSpanId');
  });

  it('exports traces and metrics over OTLP/HTTP (JSON) when telemetry.otlpEndpoint is set', async () => {
    const received: { path: string; contentType: string; body: string }[] = [];
    const collector: Server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        received.push({
          path: request.url ?? '',
          contentType: request.headers['content-type'] ?? '',
          body: Buffer.concat(chunks).toString('utf8'),
        });
        response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((resolve) => collector.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = collector.address() as AddressInfo;
      // The probe shuts the SDK down before it prints, which flushes both exporters.
      const output = await runProbe('--set', `telemetry.otlpEndpoint=http://127.0.0.1:${port}/`);
      expect(output.started).toBe(true);

      const traces = received.filter((request) => request.path === '/v1/traces');
      const metricsPosts = received.filter((request) => request.path === '/v1/metrics');
      expect(traces.length).toBeGreaterThan(0);
      expect(metricsPosts.length).toBeGreaterThan(0);
      for (const request of [...traces, ...metricsPosts]) expect(request.contentType).toContain('json');

      interface Attribute {
        key: string;
        value: { stringValue?: string };
      }
      const resourceOf = (attributes: Attribute[]): Record<string, string | undefined> =>
        Object.fromEntries(attributes.map((attribute) => [attribute.key, attribute.value.stringValue]));
      const exported = traces.flatMap(
        (request) =>
          (
            JSON.parse(request.body) as {
              resourceSpans: {
                resource: { attributes: Attribute[] };
                scopeSpans: { spans: { name: string; traceId: string }[] }[];
              }[];
            }
          ).resourceSpans,
      );
      expect(exported.flatMap((r) => r.scopeSpans.flatMap((scope) => scope.spans))).toEqual([
        expect.objectContaining({ name: 'probe work', traceId: output.traceId }),
      ]);
      for (const resourceSpans of exported) {
        expect(resourceOf(resourceSpans.resource.attributes)).toMatchObject(output.resource ?? {});
      }
      expect(metricsPosts.map((request) => request.body).join('\n')).toContain('"backbone.probe.events"');
    } finally {
      await new Promise<void>((resolve) => {
        collector.close(() => {
          resolve();
        });
      });
    }
  });

  it('leaves an invalid config for the worker to report instead of failing at import time', async () => {
    const output = await runProbe('--set', 'telemetry.logLevel=loud');
    expect(output.started).toBe(false);
  });
});
