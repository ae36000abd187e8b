import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
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
    expect(output.resource?.['service.instance.id']).toMatch(/^.+-\d+$/);
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

  it('leaves an invalid config for the worker to report instead of failing at import time', async () => {
    const output = await runProbe('--set', 'telemetry.logLevel=loud');
    expect(output.started).toBe(false);
  });
});
