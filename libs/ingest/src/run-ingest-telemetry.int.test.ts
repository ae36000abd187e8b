import { once } from 'node:events';
import { readFile, mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { systemConfigSchema } from '@backbone/config';
import { createPool, migrate } from '@backbone/db';
import { startTelemetry, type SpanFileRecord, type Telemetry } from '@backbone/telemetry';
import { createTestDatabase, waitFor, type TestDatabase } from '@backbone/testing';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseIngestRequest } from './request.ts';
import { runIngest } from './run-ingest.ts';

// Its own file: telemetry owns the process globals (tracer and meter providers) once started.
const FIXTURES = join(import.meta.dirname, '../../../fixtures/bars');
const NOW = new Date('2026-11-26T12:00:00Z');

let db: TestDatabase;
let pool: pg.Pool;
let scratch: string;
let spanFile: string;
let telemetry: Telemetry;
let metricsServer: Server;

beforeAll(async () => {
  db = await createTestDatabase('t_ingest_otel', { migrate });
  pool = createPool({ url: db.url, poolSize: 2 }, { applicationName: 'ingest-otel-test' });
  scratch = await mkdtemp(join(tmpdir(), 'ingest-otel-'));
  spanFile = join(scratch, 'spans.jsonl');
  telemetry = startTelemetry({
    serviceName: 'ingest-otel-test',
    serviceVersion: 'test',
    spanFilePath: spanFile,
    logLevel: 'silent',
  });
  metricsServer = createServer(telemetry.metricsHandler).listen(0, '127.0.0.1');
  await once(metricsServer, 'listening');
});
afterAll(async () => {
  metricsServer.close();
  await telemetry.shutdown();
  await pool.end();
  await db.drop();
  await rm(scratch, { recursive: true, force: true });
});

async function exportedSpans(): Promise<SpanFileRecord[]> {
  const text = await readFile(spanFile, 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as SpanFileRecord);
}

async function scrape(): Promise<string> {
  const { port } = metricsServer.address() as AddressInfo;
  return (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
}

describe('runIngest telemetry', () => {
  it('records a span per run with child spans per fetch and per window write, and row/run/freshness metrics', async () => {
    const config = systemConfigSchema.parse({ ingest: { batchRows: 300 } });
    const result = await runIngest(
      { pool, config, now: () => NOW },
      parseIngestRequest({ provider: 'csv', files: [join(FIXTURES, 'SPY-1d.csv')] }, NOW),
    );
    expect(result.status).toBe('succeeded');
    expect(result.windows).toBeGreaterThan(1);

    // The run span ends last; the batch processor exports it within its 200 ms delay.
    const spans = await waitFor(
      async () => {
        const all = await exportedSpans();
        return all.some((span) => span.name === 'ingest run') ? all : undefined;
      },
      { timeoutMs: 10_000 },
    );
    const run = spans.find((span) => span.name === 'ingest run');
    expect(run?.attributes).toMatchObject({
      provider: 'csv',
      dimension: 'bars',
      'backbone.run_id': result.runId,
      'backbone.ingest.status': 'succeeded',
      'backbone.ingest.inserted': result.inserted,
    });
    const children = spans.filter((span) => span.parentSpanId === run?.spanId);
    const writes = children.filter((span) => span.name === 'write bars');
    const fetches = children.filter((span) => span.name === 'fetch csv');
    expect(writes).toHaveLength(result.windows);
    // One read per window plus the read that finds the end of the file.
    expect(fetches).toHaveLength(result.windows + 1);
    expect(children.every((span) => span.traceId === run?.traceId)).toBe(true);

    const metrics = await scrape();
    expect(metrics).toMatch(
      new RegExp(`backbone_ingest_rows_total\\{[^}]*outcome="inserted"[^}]*\\} ${result.inserted}\\b`),
    );
    expect(metrics).toMatch(/backbone_ingest_runs_total\{[^}]*status="succeeded"[^}]*\} 1\b/);
    expect(metrics).toMatch(/backbone_ingest_run_duration_count\{[^}]*status="succeeded"[^}]*\} 1\b/);
    expect(metrics).toMatch(/backbone_ingest_freshness\{[^}]*symbol="SPY"[^}]*\} \d+/);
  });
});
