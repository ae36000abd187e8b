import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import {
  createTestKeyNamespace,
  freePort,
  testEndpoints as endpoints,
  waitFor,
  type TestResource,
} from '@backbone/testing';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './test-support/database.ts';

const root = join(import.meta.dirname, '../../..');
const SENTINEL = 'S3NTINEL-dash-51c2';

/**
 * The dashboard as a person sees it: the real reporter process (`./backbone serve
 * readiness-reporter`, exactly what its container runs) probing the real stack, and Debian's
 * Chromium loading the page. Needs /usr/bin/chromium (`apt-get install -y chromium`).
 */
describe('readiness dashboard in Chromium', { timeout: 120_000 }, () => {
  let db: TestDatabase;
  let namespace: { prefix: string } & TestResource;
  let reporter: ChildProcess | undefined;
  let browser: Browser | undefined;
  let url: string;
  let output = '';

  beforeAll(async () => {
    const { databaseUrl, redisUrl, kafkaBrokers } = endpoints();
    db = await createTestDatabase(databaseUrl, 'readiness_dash');
    namespace = createTestKeyNamespace(redisUrl, 'readiness_dash');
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    // The server trusts local connections, so the password is never checked: it only has to
    // stay out of the page.
    const withPassword = new URL(db.url);
    withPassword.password = SENTINEL;
    const child = spawn(join(root, 'backbone'), ['serve', 'readiness-reporter'], {
      cwd: root,
      env: {
        PATH: '/usr/bin:/bin',
        DATABASE_URL: withPassword.toString(),
        REDIS_URL: redisUrl,
        KAFKA_BROKERS: kafkaBrokers.join(','),
        BACKBONE_REDIS__KEY_NAMESPACE: namespace.prefix,
        BACKBONE_WORKERS__READINESS_REPORTER__PORT: String(port),
        BACKBONE_READINESS__PROBE_INTERVAL_SECONDS: '1',
        BACKBONE_READINESS__EXPECTED_WORKERS__0: 'readinessReporter',
        BACKBONE_SUPERVISOR__HEARTBEAT_INTERVAL_MS: '2000',
        BACKBONE_TELEMETRY__LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    reporter = child;
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    // Three stored rounds, so the charts have lines, not dots.
    await waitFor(
      async () => {
        const stored = await db.pool.query<{ n: string }>(
          'SELECT count(*)::text AS n FROM backbone.readiness_snapshots',
        );
        return Number(stored.rows[0]?.n ?? 0) >= 3;
      },
      { description: 'three stored readiness snapshots', timeoutMs: 60_000, intervalMs: 200 },
    ).catch((error: unknown) => {
      throw new Error(`the reporter stored no snapshots; its output:\n${output}`, { cause: error });
    });
    browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-quic',
        '--no-first-run',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
  }, 90_000);

  afterAll(async () => {
    await browser?.close();
    if (reporter?.exitCode === null) {
      const child = reporter;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
    await Promise.allSettled([db.drop(), namespace.drop()]);
  }, 30_000);

  it('shows the status, every component with its reason, freshness, trend charts and redacted endpoints', async () => {
    if (browser === undefined) throw new Error('no browser');
    const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
    const response = await page.goto(url);
    expect(response?.status(), output).toBe(200);

    const headline = page.getByRole('heading', { level: 1 });
    expect(await headline.innerText()).toMatch(/^Market data backbone: (OK|WARN|FAIL)$/);
    for (const section of ['Components', 'Freshness', 'Trends', 'Connections']) {
      expect(await page.getByRole('heading', { name: section, level: 2 }).isVisible(), section).toBe(true);
    }
    const rows = page.locator('section:has(h2:text-is("Components")) tbody tr');
    expect(await rows.count()).toBeGreaterThanOrEqual(20);
    const text = await page.locator('body').innerText();
    for (const check of [
      'timescaledb.connection',
      'redis.memory',
      'kafka.consumer-lag',
      'bullmq.ingest',
      'workers.heartbeats',
      'retention.bars',
    ]) {
      expect(text).toContain(check);
    }
    // The reporter's own heartbeat is the one expected worker: it sees itself.
    const workersRow = rows.filter({ hasText: 'workers.heartbeats' });
    expect(await workersRow.locator('.pill').innerText()).toBe('ok');
    // Every non-ok row carries its reason sentence.
    const notOk = rows.filter({ has: page.locator('.pill.warn, .pill.fail') });
    for (let i = 0; i < (await notOk.count()); i += 1) {
      expect((await notOk.nth(i).locator('td.reason').innerText()).length).toBeGreaterThan(20);
    }
    for (const chart of ['Ingest rows (last hour)', 'Cache hit ratio', 'Consumer lag', 'Queue depth']) {
      expect(await page.getByRole('img', { name: chart }).isVisible(), chart).toBe(true);
    }
    expect(await page.locator('svg polyline').count()).toBeGreaterThanOrEqual(2);
    expect(text).toContain(`postgres://postgres:***@127.0.0.1`);
    expect(await page.content()).not.toContain(SENTINEL);

    await mkdir(join(root, 'test-output'), { recursive: true });
    await page.screenshot({ path: join(root, 'test-output', 'readiness-dashboard.png'), fullPage: true });
  });
});
