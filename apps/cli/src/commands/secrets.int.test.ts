import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { createPool, migrate } from '@backbone/db';
import {
  createTestDatabase,
  createTestKeyNamespace,
  freePort,
  type TestDatabase,
  type TestResource,
  waitFor,
} from '@backbone/testing';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { backbone as runBackbone, ROOT, serveWorker } from '../e2e/processes.ts';

// Each `./backbone` start loads the TypeScript sources; on a busy machine that takes a while.
const SLOW = 240_000;

/**
 * Issue 3: "A test feeds sentinel secrets through every output path and finds none of them."
 * Logs, errors and `config print` have their own sentinel tests (libs/telemetry, libs/supervisor,
 * libs/config, config.int.test.ts) and the dashboard its own; this file covers what the operator
 * sees from the real `./backbone`: readiness reports, ingest runs (CLI output, the
 * `backbone.ingest_runs` rows, the outbox events) and a served worker (its output, /metrics,
 * /readyz). Letters and digits only, so no encoding (URL, JSON) can hide one from the search.
 * The tests run in order on one database: the report and the reporter show the FRED run that the
 * first test failed, whose error carries the upstream's echo of the key (`api_key=***` is checked
 * as proof that the text reached them). With redaction disabled, the FRED key shows up in the
 * ingest output, the ingest_runs row, both reports, /readyz and the worker's log; the other
 * sentinels reached no output on these runs even then.
 */
const SECRETS = {
  databasePassword: sentinel('pg'),
  redisPassword: sentinel('redis'),
  kafkaSaslPassword: sentinel('sasl'),
  fredApiKey: sentinel('fred'),
};

function sentinel(what: string): string {
  return `SeNtInEl${what}${randomBytes(8).toString('hex')}`;
}

/** Each secret found in `text`, with some context, so a failure shows where it leaked. */
function leaks(text: string): string[] {
  return Object.entries(SECRETS).flatMap(([name, secret]) => {
    const at = text.indexOf(secret);
    return at === -1 ? [] : [`${name} in …${text.slice(Math.max(0, at - 120), at + secret.length + 40)}…`];
  });
}

const { redisUrl, kafkaBrokers } = inject('endpoints');
let database: TestDatabase;
let keyNamespace: { prefix: string } & TestResource;
let pool: ReturnType<typeof createPool>;
/** The process environment of every command: all the secrets the stack can take without breaking. */
let env: Record<string, string>;
/**
 * The Kafka SASL password as well, for the commands that never connect to Kafka (ingest writes
 * its events to the outbox). The local broker has no SASL listener, so a worker or the report
 * with it would only measure a refused handshake; its redaction in `config print` is covered
 * by config.int.test.ts.
 */
let envWithSasl: Record<string, string>;
/**
 * Isolation: this file's Redis key namespace. The Kafka namespace stays the default: the report
 * and the reporter only read the topics.
 */
let isolation: string[];

beforeAll(async () => {
  database = await createTestDatabase('t_cli_secrets', { migrate });
  pool = createPool({ url: database.url, poolSize: 2 });
  keyNamespace = createTestKeyNamespace(redisUrl, 'secrets');
  // PostgreSQL on the test stack trusts local connections: the password is sent and ignored.
  const databaseUrl = new URL(database.url);
  if (databaseUrl.username === '') databaseUrl.username = 'postgres';
  databaseUrl.password = SECRETS.databasePassword;
  // The test Redis has no password (`user default on nopass`): the legacy one-argument AUTH is
  // refused there ("called without any password configured"), but `AUTH default <password>`,
  // which a URL with a user name sends, succeeds, as nopass accepts any password.
  const redis = new URL(redisUrl);
  redis.username = 'default';
  redis.password = SECRETS.redisPassword;
  env = {
    PATH: '/usr/bin:/bin',
    DATABASE_URL: databaseUrl.toString(),
    REDIS_URL: redis.toString(),
    KAFKA_BROKERS: kafkaBrokers.join(','),
    BACKBONE_INGEST__PROVIDERS__FRED__API_KEY: SECRETS.fredApiKey,
  };
  envWithSasl = {
    ...env,
    BACKBONE_KAFKA__SASL__MECHANISM: 'scram-sha-256',
    BACKBONE_KAFKA__SASL__USERNAME: 'backbone',
    BACKBONE_KAFKA__SASL__PASSWORD: SECRETS.kafkaSaslPassword,
  };
  isolation = ['--set', `redis.keyNamespace=${keyNamespace.prefix}`];
}, SLOW);

afterAll(async () => {
  await pool.end();
  await keyNamespace.drop();
  await database.drop();
});

describe('no sentinel secret in any output of ./backbone', () => {
  it(
    'ingest: a FRED run failing on an upstream that echoes the request, a csv run that succeeds; CLI output, ingest_runs rows, outbox rows',
    async () => {
      // A FRED stand-in that fails every request with the request (api_key=… included) in its body.
      const requests: string[] = [];
      const upstream = createServer((request, response) => {
        requests.push(request.url ?? '');
        response.writeHead(500, { 'content-type': 'application/json' });
        response.end(
          JSON.stringify({ error_code: 500, error_message: `internal error serving ${request.url ?? ''}` }),
        );
      });
      upstream.listen(0, '127.0.0.1');
      await once(upstream, 'listening');
      try {
        const { port } = upstream.address() as AddressInfo;
        const [fred, csv] = await Promise.all([
          runBackbone(
            [
              'ingest',
              '--provider',
              'fred',
              '--symbols',
              'PAYEMS',
              '--from',
              '2026-01-01',
              '--to',
              '2026-01-31',
              '--set',
              `ingest.providers.fred.baseUrl=http://127.0.0.1:${port}`,
              '--set',
              'ingest.providers.fred.maxRetries=1',
              ...isolation,
            ],
            envWithSasl,
          ),
          runBackbone(
            [
              'ingest',
              '--provider',
              'csv',
              '--file',
              join(ROOT, 'fixtures/bars/EURUSD-1d.csv'),
              ...isolation,
            ],
            envWithSasl,
          ),
        ]);
        // The key did reach the upstream, and came back in its answer.
        expect(requests.length).toBeGreaterThan(0);
        expect(requests.every((url) => url.includes(`api_key=${SECRETS.fredApiKey}`))).toBe(true);
        expect(fred.code, fred.stdout + fred.stderr).toBe(1);
        // The failure, the upstream's echo of the request included, reaches the operator redacted.
        expect.soft(fred.stdout + fred.stderr).toContain('api_key=***');
        expect(csv.code, csv.stderr).toBe(0);
        expect.soft(leaks(fred.stdout + fred.stderr), 'fred ingest output').toEqual([]);
        expect.soft(leaks(csv.stdout + csv.stderr), 'csv ingest output').toEqual([]);
      } finally {
        await close(upstream);
      }

      const runs = await pool.query<{ row: string; status: string; dimension: string }>(
        'SELECT row_to_json(r)::text AS row, r.status, r.dimension FROM backbone.ingest_runs r',
      );
      // One failed macro run (its error stored) and one succeeded bar run.
      expect(runs.rows.map((run) => `${run.dimension} ${run.status}`).sort()).toEqual([
        'bars succeeded',
        'macro failed',
      ]);
      expect
        .soft(runs.rows.find((run) => run.status === 'failed')?.row)
        .toMatch(/internal error serving.*api_key=\*\*\*/);
      const outbox = await pool.query<{ row: string }>(
        'SELECT row_to_json(o)::text AS row FROM backbone.outbox o',
      );
      expect(outbox.rows.length).toBeGreaterThan(0);
      expect.soft(leaks(runs.rows.map((run) => run.row).join('\n')), 'ingest_runs rows').toEqual([]);
      expect.soft(leaks(outbox.rows.map((event) => event.row).join('\n')), 'outbox rows').toEqual([]);
    },
    SLOW,
  );

  it(
    'report --format json and --format markdown: stdout and stderr',
    async () => {
      const [json, markdown] = await Promise.all([
        runBackbone(['report', '--format', 'json', ...isolation], env),
        runBackbone(['report', '--format', 'markdown', ...isolation], env),
      ]);
      for (const outcome of [json, markdown]) {
        expect([0, 1, 2], outcome.stderr).toContain(outcome.code);
        expect.soft(leaks(outcome.stdout + outcome.stderr), 'report output').toEqual([]);
      }
      // The probes ran with the secrets in use: PostgreSQL and Redis (AUTH default <password>) answered.
      const report = JSON.parse(json.stdout) as { components: { name: string; status: string }[] };
      const statuses = new Map(report.components.map((component) => [component.name, component.status]));
      expect(statuses.get('timescaledb.connection')).toBe('ok');
      expect(statuses.get('redis.ping')).toBe('ok');
      expect(markdown.stdout).toContain('# Readiness:');
      // The failed FRED run above is in the report, its error (with the echoed key) redacted.
      expect.soft(json.stdout).toContain('api_key=***');
      expect.soft(markdown.stdout).toContain('api_key=***');
      expect(markdown.stdout).toMatch(/\| redis\.ping \| redis \| yes \| ok \|/);
    },
    SLOW,
  );

  it(
    'serve readiness-reporter: its output until SIGTERM, /metrics and /readyz',
    async () => {
      const port = await freePort();
      const worker = serveWorker(
        'readiness-reporter',
        port,
        [
          '--set',
          `workers.readinessReporter.port=${port}`,
          '--set',
          'readiness.probeIntervalSeconds=1',
          ...isolation,
        ],
        env,
      );
      try {
        await waitFor(
          async () => (await fetch(`http://127.0.0.1:${port}/livez`).catch(() => undefined))?.status === 200,
          {
            timeoutMs: 180_000,
            intervalMs: 250,
            description: () => `readiness-reporter /livez 200 (output: ${worker.output().slice(-2000)})`,
          },
        );
        // A probe round has run once /readyz names its snapshot.
        const readyz = await waitFor(
          async () => {
            const body = await (await fetch(`http://127.0.0.1:${port}/readyz`)).text();
            return body.includes('"snapshot"') ? body : undefined;
          },
          { timeoutMs: 60_000, intervalMs: 250, description: '/readyz after a probe round' },
        );
        const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
        // Redis answered the reporter's probe with the secret in use.
        expect(metrics).toMatch(/backbone_readiness_check_status\{check="redis\.ping"[^}]*\} 0\n/);
        // The reporter's problems carry the failed FRED run's error (the test above), redacted.
        expect.soft(readyz).toContain('api_key=***');
        expect.soft(leaks(readyz), '/readyz').toEqual([]);
        expect.soft(leaks(metrics), '/metrics').toEqual([]);
        worker.child.kill('SIGTERM');
        const exit = await worker.exited;
        expect(exit, worker.output().slice(-2000)).toEqual({ code: 0, signal: null });
        expect(worker.output()).not.toBe('');
        expect.soft(leaks(worker.output()), 'worker output').toEqual([]);
      } finally {
        if (worker.child.exitCode === null && worker.child.signalCode === null) worker.child.kill('SIGKILL');
      }
    },
    SLOW,
  );
});

function close(server: Server): Promise<void> {
  return new Promise((resolve, reject) => {
    server.close((error) => {
      if (error === undefined) resolve();
      else reject(error);
    });
  });
}
