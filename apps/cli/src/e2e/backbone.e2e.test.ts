import { randomBytes } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  ingestRunEventSchema,
  JOBS,
  QUEUES,
  readinessSnapshotSchema,
  type IngestRunEvent,
  type RunPlanJob,
} from '@backbone/contracts';
import { TOPIC_NAMES, topicName } from '@backbone/config';
import { createPool } from '@backbone/db';
import { KEY_SERIES, startPrometheus, type PrometheusServer } from '@backbone/deploy-checks';
import { createKafkajsClient, type ConsumerPort } from '@backbone/kafka';
import { bullmqPrefix } from '@backbone/readiness';
import {
  createTestDatabase,
  createTestKeyNamespace,
  freePort,
  testEndpoints,
  uniqueName,
  waitFor,
  type TestDatabase,
  type TestResource,
} from '@backbone/testing';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backbone, childStates, jsonLines, ROOT, serveWorker, type WorkerProcess } from './processes.ts';

/** Worker process name → its key under `workers.` in the config. */
const WORKERS = [
  ['stream-bridge', 'streamBridge'],
  ['timescale-ingestor', 'timescaleIngestor'],
  ['cache-warmer', 'cacheWarmer'],
  ['readiness-reporter', 'readinessReporter'],
] as const;

/**
 * The ingestor's one plan (given to it alone, so the readiness checks expect nothing of it): the
 * shipped EURUSD daily fixture, scheduled hourly without jitter, so it runs once at start; the
 * test runs it once more by hand while Prometheus watches.
 */
const PLAN = 'e2e-fixtures';
const INGESTOR_PLAN = [
  `ingest.plans.0.name=${PLAN}`,
  'ingest.plans.0.provider=csv',
  'ingest.plans.0.symbols=[EURUSD]',
  'ingest.plans.0.timeframes=[1d]',
  'ingest.plans.0.schedule.jitterSeconds=0',
].flatMap((set) => ['--set', set]);

const RATE = 200;
const DURATION_SECONDS = 3;
/** Symbols nobody else produces, so every assertion below is about this run's bars only. */
const SYMBOLS = [0, 1].map(() => `E2E${randomBytes(3).toString('hex').toUpperCase()}`);

interface SpanLine {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: string;
  resource: Record<string, unknown>;
}

/**
 * The whole backbone as `npm start` runs it: the four workers as four `./backbone serve <worker>`
 * processes against the real PostgreSQL, Redis and Kafka, isolated by a database, a Redis key
 * namespace and a Kafka namespace (topics and the bridge's group) of their own.
 */
describe('backbone end to end: four worker processes, a feed, the report', { timeout: 420_000 }, () => {
  const { redisUrl, kafkaBrokers } = testEndpoints();
  const outputDir = join(ROOT, 'test-output', uniqueName('e2e'));
  const env = { PATH: '/usr/bin:/bin', KAFKA_BROKERS: kafkaBrokers.join(',') };
  let database: TestDatabase | undefined;
  let namespace: ({ prefix: string } & TestResource) | undefined;
  let pool: ReturnType<typeof createPool> | undefined;
  let events: ConsumerPort | undefined;
  const seenEvents: IngestRunEvent[] = [];
  let common: string[];
  const workers = new Map<string, WorkerProcess>();
  let prometheus: PrometheusServer | undefined;
  const spanFile = (worker: string): string => join(outputDir, `spans-${worker}.jsonl`);
  const kafkaNamespace = { namespace: `${uniqueName('e2e')}.` };
  const topics = {
    bars: topicName(kafkaNamespace, 'market.bars.v1'),
    ingestEvents: topicName(kafkaNamespace, 'backbone.ingest-events.v1'),
  };

  beforeAll(async () => {
    await mkdir(outputDir, { recursive: true });
    const db = await createTestDatabase('e2e');
    database = db;
    const ns = createTestKeyNamespace(redisUrl, 'e2e');
    namespace = ns;
    common = [
      '--set',
      `database.url=${db.url}`,
      '--set',
      `redis.url=${redisUrl}`,
      '--set',
      `redis.keyNamespace=${ns.prefix}`,
      '--set',
      'readiness.probeIntervalSeconds=1',
      '--set',
      'supervisor.heartbeatIntervalMs=1000',
      '--set',
      `kafka.namespace=${kafkaNamespace.namespace}`,
      // The ingestor's storage maintenance (rollup refresh) at its shortest, so the rollups are
      // fresh while the test runs.
      '--set',
      'storage.maintenanceIntervalSeconds=10',
    ];
    // Exactly the operator's commands, against this run's database and Kafka namespace.
    const migrated = await backbone(['migrate', ...common], env);
    expect(migrated.code, migrated.stderr).toBe(0);
    const ensured = await backbone(['topics', 'ensure', ...common], env);
    expect(ensured.code, ensured.stderr).toBe(0);
    pool = createPool({ url: db.url, poolSize: 2 });

    // Ingest events are read with a group of our own from the start of this run's topic.
    events = createKafkajsClient({ brokers: kafkaBrokers, clientId: 'backbone-e2e' }).consumer({
      groupId: uniqueName('e2e_events'),
    });
    await events.connect();
    await events.subscribe([topics.ingestEvents], { fromBeginning: true });
    await events.run({
      eachBatch: (batch) => {
        for (const message of batch.messages) {
          const parsed = ingestRunEventSchema.safeParse(
            JSON.parse(message.value?.toString('utf8') ?? 'null'),
          );
          if (parsed.success && parsed.data.symbols.some((symbol) => SYMBOLS.includes(symbol)))
            seenEvents.push(parsed.data);
        }
        // Without it the next fetch starts at the same offset again, and events past the first
        // fetch of a partition are never read.
        const last = batch.messages.at(-1);
        if (last !== undefined) batch.resolveOffset(last.offset);
        return Promise.resolve();
      },
    });

    for (const [name, key] of WORKERS) {
      const port = await freePort();
      const worker = serveWorker(
        name,
        port,
        [
          ...common,
          '--set',
          `workers.${key}.port=${port}`,
          '--set',
          `telemetry.spanFileExporterPath=${spanFile(name)}`,
          ...(name === 'timescale-ingestor' ? INGESTOR_PLAN : []),
        ],
        env,
      );
      workers.set(name, worker);
    }
    // Workers take several seconds to start on a loaded machine: wait until every one is ready.
    for (const worker of workers.values()) {
      await waitFor(
        async () => {
          const response = await fetch(`http://127.0.0.1:${worker.port}/readyz`).catch(() => undefined);
          return response?.status === 200;
        },
        {
          timeoutMs: 180_000,
          intervalMs: 250,
          description: `${worker.name} /readyz 200 (output: ${worker.output().slice(-2000)})`,
        },
      );
    }
    // The real Prometheus (Debian's package) scraping the four workers' /metrics every second.
    prometheus = await startPrometheus({ config: scrapeConfig(workers) });
  }, 300_000);

  afterAll(async () => {
    await prometheus?.stop();
    for (const worker of workers.values()) if (worker.child.exitCode === null) worker.child.kill('SIGKILL');
    await events?.close();
    const admin = createKafkajsClient({ brokers: kafkaBrokers, clientId: 'backbone-e2e' }).admin();
    await admin.connect();
    await admin
      .deleteTopics(TOPIC_NAMES.map((name) => topicName(kafkaNamespace, name)))
      .finally(() => admin.close());
    await pool?.end();
    await namespace?.drop();
    await database?.drop();
  }, 120_000);

  it('feed → bridge → database → outbox relay → ingest events → cache-warmer → Redis, spans per hop, report ok, clean SIGTERM', async () => {
    const started = Date.now();
    const sql = pool;
    const scraper = prometheus;
    if (sql === undefined || scraper === undefined) throw new Error('the set-up did not finish');
    await waitFor(
      async () => {
        const targets = await scraper.targets();
        return targets.length === WORKERS.length && targets.every((target) => target.health === 'up');
      },
      { timeoutMs: 30_000, description: 'Prometheus scraping all four workers' },
    );
    // The plan's scheduled run at start must be over, so the manual run below is the move.
    await waitFor(async () => (await runsOf(sql, PLAN)).includes('succeeded'), {
      timeoutMs: 120_000,
      description: `the scheduled run of plan ${PLAN}`,
    });
    const fed = await backbone(
      [
        'feed',
        '--symbols',
        SYMBOLS.join(','),
        '--rate',
        String(RATE),
        '--duration',
        String(DURATION_SECONDS),
        ...common,
        '--set',
        `telemetry.spanFileExporterPath=${spanFile('feed')}`,
      ],
      env,
    );
    expect(fed.code, fed.stderr).toBe(0);
    const summary = JSON.parse(fed.stdout) as { produced: number; lastTsBySymbol: Record<string, string> };
    expect(summary.produced).toBe(RATE * DURATION_SECONDS);
    const perSymbol = summary.produced / SYMBOLS.length;

    // 1. Rows: exactly what was produced, per symbol (the bridge stores each bar once).
    const counts = await waitFor(
      async () => {
        const result = await sql.query<{ symbol: string; n: number; last: Date }>(
          `SELECT symbol, count(*)::int AS n, max(ts) AS last FROM market_data.bars
            WHERE symbol = ANY($1) AND timeframe = '1m' GROUP BY symbol ORDER BY symbol`,
          [SYMBOLS],
        );
        const total = result.rows.reduce((sum, row) => sum + row.n, 0);
        return total >= summary.produced ? result.rows : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 250, description: `${summary.produced} bars in market_data.bars` },
    );
    expect(counts.map((row) => [row.symbol, row.n])).toEqual([...SYMBOLS].sort().map((s) => [s, perSymbol]));
    for (const row of counts)
      expect(row.last.getTime()).toBe(Date.parse(summary.lastTsBySymbol[row.symbol] ?? ''));

    // 2. Ingest events on backbone.ingest-events.v1, relayed from this database's outbox: they
    //    account for every bar of our symbols (a bridge slice may also carry other producers' bars).
    const outboxRuns = await waitFor(
      async () => {
        const result = await sql.query<{ run_id: string }>(
          `SELECT payload->>'runId' AS run_id FROM backbone.outbox
            WHERE payload->'symbols' ?| $1::text[] AND published_at IS NOT NULL`,
          [SYMBOLS],
        );
        const unpublished = await sql.query(
          `SELECT 1 FROM backbone.outbox WHERE payload->'symbols' ?| $1::text[] AND published_at IS NULL`,
          [SYMBOLS],
        );
        return unpublished.rowCount === 0 && result.rowCount !== null && result.rowCount > 0
          ? result.rows.map((row) => row.run_id)
          : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 250, description: 'every outbox event of our symbols published' },
    );
    await waitFor(() => outboxRuns.every((runId) => seenEvents.some((event) => event.runId === runId)), {
      timeoutMs: 60_000,
      intervalMs: 250,
      description: `ingest events ${outboxRuns.join(', ')} on ${topics.ingestEvents}`,
    });
    const ours = seenEvents.filter((event) => outboxRuns.includes(event.runId));
    expect(ours.map((event) => `${event.dimension} ${event.timeframe ?? '-'}`)).toEqual(
      ours.map(() => 'bars 1m'),
    );
    expect(ours.reduce((sum, event) => sum + event.counts.inserted, 0)).toBeGreaterThanOrEqual(
      summary.produced,
    );

    // 3. Fresh hot keys under our namespace: the latest bar of each symbol, read the way a
    //    downstream service reads it, is served from the cache and is the last bar fed.
    for (const symbol of SYMBOLS) {
      const cached = await waitFor(
        async () => {
          const read = await backbone(
            ['cache', 'get', 'latest-bar', symbol, '--timeframe', '1m', ...common],
            env,
          );
          if (read.code !== 0) return undefined;
          const value = JSON.parse(read.stdout) as { source: string; status: string; data?: unknown };
          const lastTs = new Date(Date.parse(summary.lastTsBySymbol[symbol] ?? '')).toISOString();
          const fresh = read.stdout.includes(lastTs) || read.stdout.includes(lastTs.replace('.000Z', 'Z'));
          return fresh && value.source === 'cache' ? value : undefined;
        },
        { timeoutMs: 90_000, intervalMs: 500, description: `latest-bar ${symbol} warmed in Redis` },
      );
      expect(cached.status).toBe('healthy');
    }

    // 4. Readiness from live probes, over this run's database and namespaces: every component ok
    //    (the rollups once the ingestor's maintenance has refreshed them), exit 0.
    let last: { code: number | null; notOk: string[] } | undefined;
    const reported = await waitFor(
      async () => {
        const outcome = await backbone(['report', '--format', 'json', ...common], env);
        const report = readinessSnapshotSchema.parse(pickSnapshot(outcome.stdout));
        last = {
          code: outcome.code,
          notOk: report.components.filter((c) => c.status !== 'ok').map((c) => `${c.name} ${c.status}`),
        };
        return report.status === 'ok' ? { outcome, report } : undefined;
      },
      {
        timeoutMs: 90_000,
        intervalMs: 1_000,
        description: () => `report: every component ok (last: ${JSON.stringify(last)})`,
      },
    );
    expect(reported.outcome.code).toBe(0);

    // 5. The validation report written to a file while everything runs: every check with evidence.
    const out = join(outputDir, 'system_validation_report.json');
    const final = await backbone(['report', '--format', 'json', '--out', out, ...common], env);
    const written = readinessSnapshotSchema.parse(pickSnapshot(await readFile(out, 'utf8')));
    expect(written.status).not.toBe('fail');
    expect(final.code).toBe(written.status === 'ok' ? 0 : 1);
    for (const component of written.components)
      expect(Object.keys(component.evidence).length, component.name).toBeGreaterThan(0);

    // 6. Prometheus, through its query API: every key series the dashboard and the autoscalers
    //    use exists on the workers with its labels, and moved during this run (counters grew,
    //    gauges changed). Ingest rows and freshness move with one more run of the plan, which also
    //    puts a job in the ingest queue; the feed moved the lag and the cache reads the hits.
    const queue = new Queue(QUEUES.ingest, {
      connection: { host: new URL(redisUrl).hostname, port: Number(new URL(redisUrl).port || 6379) },
      prefix: bullmqPrefix(namespace?.prefix ?? ''),
    });
    try {
      await queue.add(JOBS.runPlan, { planName: PLAN, reason: 'manual' } satisfies RunPlanJob);
    } finally {
      await queue.close();
    }
    await waitFor(async () => (await runsOf(sql, PLAN)).filter((s) => s === 'succeeded').length >= 2, {
      timeoutMs: 120_000,
      description: `the manual run of plan ${PLAN}`,
    });
    const windowSeconds = Math.ceil((Date.now() - started) / 1000) + 30;
    const movement: Record<string, number> = {};
    for (const series of KEY_SERIES) {
      const samples = await waitFor(
        async () => {
          const result = await scraper.query(series.name);
          return result.length > 0 && result;
        },
        { timeoutMs: 30_000, description: `${series.name} in Prometheus` },
      );
      for (const label of series.labels) expect(samples[0]?.metric, series.name).toHaveProperty(label);
      const range = `sum(${series.name})[${windowSeconds}s:1s]`;
      const moved = await waitFor(
        async () => {
          const [sample] = await scraper.query(`max_over_time(${range}) - min_over_time(${range})`);
          return sample !== undefined && sample.value > 0 && sample.value;
        },
        { timeoutMs: 30_000, description: `${series.name} to move during the run` },
      );
      movement[series.name] = moved;
    }
    // Scraping stops before the workers do: this run's SIGTERM checks are about the workers'
    // own shutdown (a worker's health server drains open scrapes within its 5 s grace, which a
    // loaded machine can overrun: see docs/observability.md).
    await scraper.stop();

    // 7. SIGTERM: every worker stops gracefully, exit 0, nothing orphaned in its final summary
    //    line. Its stdout and stderr are read together, so that line need not be the very last.
    for (const [name] of [...WORKERS].reverse()) workers.get(name)?.child.kill('SIGTERM');
    for (const worker of workers.values()) {
      const exit = await worker.exited;
      expect(exit, `${worker.name}: ${worker.output().slice(-3000)}`).toEqual({ code: 0, signal: null });
      const last = jsonLines(worker.output()).findLast((line) => line.msg === 'process exiting cleanly');
      expect(last, `${worker.name}: its final summary line`).toBeDefined();
      const states = childStates(last?.snapshot);
      expect(states.length, worker.name).toBeGreaterThan(0);
      expect(
        states.filter((s) => /: (orphaned|failed)$/.test(s)),
        worker.name,
      ).toEqual([]);
    }

    // 8. Traces (span files are flushed on exit). One trace crosses feed → bridge → outbox relay
    //    → cache-warmer: every feed record carries its produce request's span, the bridge's slice
    //    span is a child of the span of the slice's first record, and that slice span's context
    //    is the ingest event's trace, carried in the outbox row's headers.
    const spans = new Map<string, SpanLine[]>();
    for (const name of ['feed', ...WORKERS.map(([worker]) => worker)])
      spans.set(name, await readSpans(spanFile(name)));
    const feedSpans = spans.get('feed') ?? [];
    const bridgeSpans = spans.get('stream-bridge') ?? [];
    const warmerSpans = spans.get('cache-warmer') ?? [];
    expect(feedSpans.length, 'feed producer spans').toBeGreaterThan(0);
    expect(feedSpans.every((span) => span.name === `send ${topics.bars}` && span.kind === 'PRODUCER')).toBe(
      true,
    );
    expect(feedSpans.every((span) => span.resource['service.name'] === 'backbone-feed')).toBe(true);
    const feedSpanIds = new Set(feedSpans.map((span) => `${span.traceId}/${span.spanId}`));
    const bridgeSlices = bridgeSpans.filter((span) => span.name === `process ${topics.bars}`);
    const fedSlices = bridgeSlices.filter((span) =>
      feedSpanIds.has(`${span.traceId}/${span.parentSpanId ?? ''}`),
    );
    expect(fedSlices.length, 'bridge slice spans whose parent is a feed span').toBeGreaterThan(0);
    expect(warmerSpans.some((span) => span.name === `process ${topics.ingestEvents}`)).toBe(true);
    const traceIds = ours.map((event) => event.traceContext.traceparent.split('-')[1]);
    const fromFeed = traceIds.filter((id) => feedSpans.some((span) => span.traceId === id));
    const inBridge = fromFeed.filter((id) => fedSlices.some((span) => span.traceId === id));
    const crossing = inBridge.filter((id) => warmerSpans.some((span) => span.traceId === id));
    expect(
      crossing.length,
      'event trace ids started by the feed and seen by both the bridge and the cache-warmer',
    ).toBeGreaterThan(0);

    process.stdout.write(
      `e2e: ${summary.produced} bars, ${ours.length} events; feed spans ${feedSpans.length}; ` +
        `bridge slices under a feed span ${fedSlices.length} of ${bridgeSlices.length}; ` +
        `event traces from the feed ${fromFeed.length}, through bridge and cache-warmer ${crossing.length}; ` +
        `key series moved by ${JSON.stringify(movement)}; report ${reported.report.status}, ${Date.now() - started} ms\n`,
    );
  });
});

/** One scrape job per worker, as docker/prometheus.yml names them, every second. */
function scrapeConfig(workers: ReadonlyMap<string, WorkerProcess>): string {
  const jobs = [...workers.values()].map(
    (worker) =>
      `  - job_name: ${worker.name}\n    static_configs:\n      - targets: ['127.0.0.1:${worker.port}']`,
  );
  return `global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n${jobs.join('\n')}\n`;
}

/** Statuses of a plan's finished runs. */
async function runsOf(sql: ReturnType<typeof createPool>, plan: string): Promise<string[]> {
  const result = await sql.query<{ status: string }>(
    `SELECT status FROM backbone.ingest_runs WHERE plan = $1 AND status <> 'running'`,
    [plan],
  );
  return result.rows.map((row) => row.status);
}

function pickSnapshot(text: string): unknown {
  const { groups: _groups, problems: _problems, ...snapshot } = JSON.parse(text) as Record<string, unknown>;
  return snapshot;
}

async function readSpans(path: string): Promise<SpanLine[]> {
  const text = await readFile(path, 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => JSON.parse(line) as SpanLine);
}
