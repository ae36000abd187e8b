/**
 * The real Prometheus server (Debian's `prometheus` package) scraping real /metrics endpoints,
 * asserted through its HTTP query API: the key series exist and move, the dashboard's queries
 * run, and docker/prometheus.yml passes `promtool check config`.
 *
 * The scrape targets here are `metrics-probe.ts` processes, started exactly like a worker
 * (`node --import @backbone/telemetry/register`) and serving /metrics through
 * @backbone/telemetry's health server with the workers' instrument names: they make every
 * series move on demand, so each dashboard query can be checked for data in seconds. The same
 * series against the four real workers (`./backbone serve`, driven by a feed, cache reads and
 * an ingest run) are asserted by the end-to-end test, apps/cli/src/e2e/backbone.e2e.test.ts,
 * which already runs them (starting them twice would double the CI time).
 */
import { execFile, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { waitFor } from '@backbone/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dashboardQueries } from './grafana.ts';
import { KEY_SERIES, WORKERS } from './metric-catalog.ts';
import { REPO_ROOT } from './paths.ts';
import { startPrometheus, type PrometheusServer } from './prometheus-server.ts';

const NODE = process.execPath;
const PROBE = join(REPO_ROOT, 'libs/deploy-checks/src/test-support/metrics-probe.ts');

interface Probe {
  child: ChildProcessWithoutNullStreams;
  url: string;
}

async function startProbe(): Promise<Probe> {
  const child = spawn(NODE, ['--import', '@backbone/telemetry/register', PROBE], {
    cwd: REPO_ROOT,
    // The probe's config comes from the defaults; nothing of the test's environment leaks in.
    env: {},
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const lines = createInterface({ input: child.stdout });
  const first = await Promise.race([
    once(lines, 'line').then(([line]) => String(line)),
    once(child, 'exit').then(([code]) => {
      throw new Error(`metrics probe exited with ${String(code)}: ${stderr}`);
    }),
  ]);
  return { child, url: (JSON.parse(first) as { url: string }).url };
}

async function stopProbe(probe: Probe): Promise<void> {
  if (probe.child.exitCode !== null) return;
  const exited = once(probe.child, 'exit');
  probe.child.stdin.end();
  await exited;
}

/** One scrape job per worker role, 1 s apart, against the given target per job. */
function scrapeConfig(targets: Record<string, string>): string {
  const jobs = WORKERS.map(
    (worker) =>
      `  - job_name: ${worker.app}\n    static_configs:\n      - targets: ['${targets[worker.app] ?? ''}']`,
  );
  return `global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n${jobs.join('\n')}\n`;
}

describe('Prometheus scraping the workers', () => {
  const probes: Probe[] = [];
  let started: PrometheusServer | undefined;
  const prometheus = {
    query: (promql: string) => server().query(promql),
    targets: () => server().targets(),
  };
  function server(): PrometheusServer {
    if (started === undefined) throw new Error('Prometheus did not start (see beforeAll)');
    return started;
  }

  beforeAll(async () => {
    // One process per worker role, like the real deployment.
    probes.push(...(await Promise.all(WORKERS.map(() => startProbe()))));
    const targets = Object.fromEntries(
      WORKERS.map((worker, index) => [worker.app, new URL(probes[index]?.url ?? '').host]),
    );
    started = await startPrometheus({ config: scrapeConfig(targets) });
  }, 120_000);

  afterAll(async () => {
    await started?.stop();
    await Promise.all(probes.map(stopProbe));
  });

  it('scrapes all four jobs successfully', async () => {
    const targets = await waitFor(
      async () => {
        const active = await prometheus.targets();
        return active.length === WORKERS.length && active.every((target) => target.health === 'up') && active;
      },
      { timeoutMs: 20_000, description: 'all four scrape targets up' },
    );
    expect(targets.map((target) => target.job).sort()).toEqual(WORKERS.map((worker) => worker.app).sort());
    const up = await prometheus.query('sum(up)');
    expect(up[0]?.value).toBe(WORKERS.length);
  });

  it.each(KEY_SERIES)('has $name and sees it move', async (series) => {
    const current = async (): Promise<number> => {
      const samples = await prometheus.query(`sum(${series.name})`);
      return samples[0]?.value ?? Number.NaN;
    };
    const before = await waitFor(
      async () => {
        const value = await current();
        return Number.isNaN(value) ? undefined : value;
      },
      { timeoutMs: 20_000, description: `${series.name} in Prometheus` },
    );
    const samples = await prometheus.query(series.name);
    for (const label of series.labels) expect(samples[0]?.metric).toHaveProperty(label);
    // One tick in every process: counters grow, gauges change (lag, queue, freshness all rise).
    for (const probe of probes) probe.child.stdin.write('tick\n');
    const after = await waitFor(
      async () => {
        const value = await current();
        return value > before && value;
      },
      { timeoutMs: 20_000, description: `${series.name} to move past ${before}` },
    );
    expect(after).toBeGreaterThan(before);
  });

  it('answers every dashboard query with data', async () => {
    const queries = await dashboardQueries(join(REPO_ROOT, 'deploy/grafana/backbone.json'));
    expect(queries.length).toBeGreaterThanOrEqual(KEY_SERIES.length);
    for (const query of queries) {
      // rate() needs two samples in its window; a few 1 s scrapes give them.
      const samples = await waitFor(
        async () => {
          const result = await prometheus.query(query.expr);
          return result.length > 0 && result.every((sample) => Number.isFinite(sample.value)) && result;
        },
        { timeoutMs: 20_000, description: `data for the "${query.panel}" panel` },
      );
      expect(samples.length, query.panel).toBeGreaterThan(0);
    }
    const ratio = await prometheus.query(
      queries.find((query) => query.panel === 'Cache hit ratio')?.expr ?? '',
    );
    expect(ratio[0]?.value).toBeCloseTo(0.75, 5);
  });

  it('accepts docker/prometheus.yml with promtool', async () => {
    const { stdout } = await promisify(execFile)('promtool', [
      'check',
      'config',
      join(REPO_ROOT, 'docker/prometheus.yml'),
    ]);
    expect(stdout).toMatch(/SUCCESS/);
  });
});
