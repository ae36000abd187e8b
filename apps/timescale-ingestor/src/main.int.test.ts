import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPool, migrate } from '@backbone/db';
import {
  createTestDatabase,
  createTestKeyNamespace,
  freePort,
  testEndpoints,
  waitFor,
} from '@backbone/testing';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';

const root = join(import.meta.dirname, '../../..');
const node = join(root, 'node_modules/node/bin/node');

let database: { url: string; drop(): Promise<void> };
let scratch: string;

beforeAll(async () => {
  database = await createTestDatabase('t_ingestor_main', { migrate });
  scratch = await mkdtemp(join(tmpdir(), 'ingestor-main-'));
});
afterAll(async () => {
  await database.drop();
  await rm(scratch, { recursive: true, force: true });
});

it('runs as a process: schedules and runs its plan, answers /readyz and /metrics, heartbeats, exits 0 on SIGTERM', async () => {
  const ns = createTestKeyNamespace(testEndpoints().redisUrl, 'main');
  // A port no other process holds: a random one collided with the ports other test files bind.
  const port = await freePort();
  const configFile = join(scratch, 'config.yaml');
  await writeFile(
    configFile,
    [
      'ingest:',
      `  providers: { csv: { directory: ${JSON.stringify(join(root, 'fixtures/bars'))} } }`,
      '  plans:',
      '    - { name: spy-daily-main, provider: csv, symbols: [SPY], timeframes: [1d], schedule: { intervalSeconds: 3600, jitterSeconds: 0 } }',
      'supervisor: { heartbeatIntervalMs: 200, heartbeatTtlSeconds: 5 }',
      '',
    ].join('\n'),
  );
  const child = spawn(
    node,
    [
      '--import',
      '@backbone/telemetry/register',
      join(root, 'apps/timescale-ingestor/src/main.ts'),
      '--config',
      configFile,
      '--set',
      `database.url=${database.url}`,
      '--set',
      `redis.url=${testEndpoints().redisUrl}`,
      '--set',
      `redis.keyNamespace=${ns.prefix}`,
      '--set',
      `workers.timescaleIngestor.port=${port}`,
    ],
    { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  // The worker's JSON log: its last lines say where a start that never got ready stopped.
  let stdout = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout = (stdout + chunk.toString()).slice(-4_000)));
  const exited = once(child, 'exit');
  const pool = createPool({ url: database.url, poolSize: 1 });
  const redis = new Redis(testEndpoints().redisUrl);
  try {
    // A worker that exited (e.g. its port was taken) will never answer: fail at once, with why.
    await Promise.race([
      waitFor(
        async () => {
          const response = await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined);
          return response?.status === 200;
        },
        {
          timeoutMs: 120_000,
          intervalMs: 200,
          description: () => `/readyz 200 (stderr: ${stderr}; log: ${stdout})`,
        },
      ),
      exited.then(([code]) => {
        throw new Error(
          `the worker exited (${String(code)}) before /readyz answered 200: ${stderr}; log: ${stdout}`,
        );
      }),
    ]);
    await waitFor(
      async () => {
        const runs = await pool.query(
          `SELECT 1 FROM backbone.ingest_runs WHERE plan = 'spy-daily-main' AND status = 'succeeded'`,
        );
        return runs.rowCount === 1;
      },
      { timeoutMs: 60_000 },
    );
    const stored = await pool.query<{ n: string }>(
      `SELECT count(*) AS n FROM market_data.bars WHERE symbol = 'SPY'`,
    );
    expect(stored.rows[0]?.n).toBe('504');
    const readyz = (await (await fetch(`http://127.0.0.1:${port}/readyz`)).json()) as {
      details: { plans?: Record<string, { status: string; lastSuccessAt: string | null }> };
    };
    expect(readyz.details.plans?.['spy-daily-main']).toMatchObject({ status: 'active' });
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(metrics).toMatch(/backbone_ingest_rows_total\{[^}]*outcome="inserted"[^}]*\} 504/);
    const heartbeats = await redis.keys(`${ns.prefix}workers:timescale-ingestor:*`);
    expect(heartbeats).toHaveLength(1);

    child.kill('SIGTERM');
    const [code] = (await exited) as [number | null];
    expect(code).toBe(0);
    expect(await redis.keys(`${ns.prefix}workers:timescale-ingestor:*`)).toEqual([]);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    await pool.end();
    redis.disconnect();
    await ns.drop();
  }
}, 240_000);
