import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream, existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createPool, migrate } from '@backbone/db';
import { createTestDatabase, type TestDatabase, utcMidnightDaysAgo, waitFor } from '@backbone/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backbone as runBackbone, ROOT, type CommandOutcome } from '../e2e/processes.ts';

// Each `./backbone` start loads the TypeScript sources; on a busy machine that takes a while.
const SLOW = 240_000;

const SYMBOLS = 10;
const MINUTES = 12_000;
const TOTAL = SYMBOLS * MINUTES;
const WINDOW = 5_000;
// util-linux `script` gives the command a pseudo-terminal, as an interactive shell would.
const SCRIPT = '/usr/bin/script';

let database: TestDatabase;
let databaseUrl: string;
let client: ReturnType<typeof createPool>;
let scratch: string;
let bigCsv: string;

beforeAll(async () => {
  database = await createTestDatabase('t_cli_ingest', { migrate });
  databaseUrl = database.url;
  client = createPool({ url: databaseUrl, poolSize: 2 });

  scratch = await mkdtemp(join(tmpdir(), 'cli-ingest-'));
  bigCsv = join(scratch, 'big.csv');
  await writeBigCsv(bigCsv);
}, SLOW);

afterAll(async () => {
  await client.end();
  await database.drop();
  await rm(scratch, { recursive: true, force: true });
});

/** 10 symbols × 12,000 one-minute bars in time order: 24 windows of 5,000 rows. */
async function writeBigCsv(file: string): Promise<void> {
  const out = createWriteStream(file);
  out.write('symbol,timeframe,ts,open,high,low,close,volume\n');
  // 8⅓ days ending two days ago: inside the 1m retention (30 days), which TimescaleDB's prune
  // job enforces while the test counts the rows.
  const start = utcMidnightDaysAgo(10);
  for (let minute = 0; minute < MINUTES; minute += 1) {
    const ts = new Date(start + minute * 60_000).toISOString();
    let lines = '';
    for (let s = 0; s < SYMBOLS; s += 1) {
      const price = (100 + s + Math.sin(minute / 50)).toFixed(4);
      lines += `SYM${s},1m,${ts},${price},${price},${price},${price},${minute}\n`;
    }
    if (!out.write(lines)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
}

/** `./backbone` against this file's database. */
function backbone(args: readonly string[]): Promise<CommandOutcome> {
  return runBackbone([...args, '--set', `database.url=${databaseUrl}`]);
}

async function scalar(sql: string): Promise<number> {
  const result = await client.query<{ n: string }>(sql);
  return Number(result.rows[0]?.n);
}

describe('./backbone ingest', () => {
  it(
    'exits 2 with a clear message for bad usage',
    async () => {
      const [reversed, unknown, sql, missing] = await Promise.all([
        backbone([
          'ingest',
          '--provider',
          'yahoo',
          '--symbols',
          'EURUSD',
          '--from',
          '2026-02-01',
          '--to',
          '2026-01-01',
        ]),
        backbone(['ingest', '--provider', 'bloomberg', '--symbols', 'EURUSD']),
        backbone([
          'ingest',
          '--provider',
          'yahoo',
          '--symbols',
          "EURUSD,X'; DROP TABLE market_data.bars;--",
          '--from',
          '2026-01-01',
        ]),
        backbone(['ingest', '--provider', 'csv', '--file', join(scratch, 'missing.csv')]),
      ]);
      expect(reversed).toMatchObject({ code: 2, stdout: '' });
      expect(reversed.stderr).toMatch(/to: reversed or empty date range/);
      expect(unknown.code).toBe(2);
      expect(unknown.stderr).toMatch(/unknown provider "bloomberg"/);
      expect(sql.code).toBe(2);
      expect(sql.stderr).toMatch(/symbols\[1\]: must be 1 to 32 characters/);
      expect(sql.stderr).not.toMatch(/DROP TABLE/);
      expect(missing.code).toBe(2);
      expect(missing.stderr).toMatch(/file: .*missing\.csv does not exist/);
      expect(await scalar('SELECT count(*) AS n FROM backbone.ingest_runs')).toBe(0);
    },
    SLOW,
  );

  it(
    'finding 1.5: exits 2 naming --from/--to when a date does not exist, instead of rolling it over',
    async () => {
      // A closed port: were the dates accepted, the run would fail fast (exit 1) instead of calling Yahoo.
      const impossible = await backbone([
        'ingest',
        '--provider',
        'yahoo',
        '--symbols',
        'EURUSD',
        '--from',
        '2024-02-30T00:00:00Z',
        '--to',
        '2024-03-05T24:00:00Z',
        '--set',
        'ingest.providers.yahoo.baseUrl=http://127.0.0.1:9',
      ]);
      expect(impossible).toMatchObject({ code: 2, stdout: '' });
      expect(impossible.stderr).toMatch(
        /from: "2024-02-30T00:00:00Z" is not a date: day 30 does not exist in February 2024/,
      );
      expect(impossible.stderr).toMatch(/to: "2024-03-05T24:00:00Z" is not a date: hour 24 does not exist/);
    },
    SLOW,
  );

  it(
    'leaves only whole windows after kill -9 in a backfill, and a re-run completes it exactly once',
    async () => {
      const child = spawn(
        join(ROOT, 'backbone'),
        [
          'ingest',
          '--provider',
          'csv',
          '--file',
          bigCsv,
          '--set',
          `database.url=${databaseUrl}`,
          '--set',
          `ingest.batchRows=${WINDOW}`,
        ],
        { cwd: ROOT, stdio: ['ignore', 'ignore', 'ignore'] },
      );
      const exited = once(child, 'exit');
      // Kill once a few windows are committed (the run row is committed with each window).
      await waitFor(
        async () =>
          (await scalar(
            `SELECT coalesce(max(inserted), 0) AS n FROM backbone.ingest_runs WHERE status = 'running'`,
          )) >=
          3 * WINDOW,
        { timeoutMs: SLOW, intervalMs: 50 },
      );
      child.kill('SIGKILL');
      const [, signal] = (await exited) as [number | null, string | null];
      expect(signal).toBe('SIGKILL');

      const killed = await client.query<{ status: string; inserted: string }>(
        'SELECT status, inserted FROM backbone.ingest_runs',
      );
      expect(killed.rows).toHaveLength(1);
      expect(killed.rows[0]?.status).toBe('running'); // it really died in the middle
      const visible = await scalar('SELECT count(*) AS n FROM market_data.bars');
      expect(visible).toBeGreaterThan(0);
      expect(visible).toBeLessThan(TOTAL);
      // Whole windows only: every window holds exactly WINDOW rows, and the run row agrees.
      expect(visible % WINDOW).toBe(0);
      expect(visible).toBe(Number(killed.rows[0]?.inserted));

      const rerun = await backbone([
        'ingest',
        '--provider',
        'csv',
        '--file',
        bigCsv,
        '--set',
        `ingest.batchRows=${WINDOW}`,
      ]);
      expect(rerun.code).toBe(0);
      const summary = JSON.parse(rerun.stdout) as Record<string, unknown>;
      expect(summary).toMatchObject({
        inserted: TOTAL - visible,
        updated: 0,
        unchanged: visible,
        rejected: 0,
      });
      expect(await scalar('SELECT count(*) AS n FROM market_data.bars')).toBe(TOTAL);
      expect(await scalar('SELECT count(DISTINCT (symbol, timeframe, ts)) AS n FROM market_data.bars')).toBe(
        TOTAL,
      );

      const again = await backbone([
        'ingest',
        '--provider',
        'csv',
        '--file',
        bigCsv,
        '--set',
        `ingest.batchRows=${WINDOW}`,
      ]);
      expect(again.code).toBe(0);
      expect(JSON.parse(again.stdout)).toMatchObject({ inserted: 0, updated: 0, unchanged: TOTAL });
      // Progress went to stderr as JSON lines (no TTY here), one per committed window.
      const lines = again.stderr
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as { msg: string });
      expect(lines.filter((line) => line.msg === 'window committed')).toHaveLength(TOTAL / WINDOW);
    },
    SLOW * 2,
  );

  it.skipIf(!existsSync(SCRIPT))(
    'draws a progress bar on a terminal instead of log lines, and prints the summary JSON',
    async () => {
      const fixture = join(ROOT, 'fixtures/bars/SPY-1d.csv');
      const command = [join(ROOT, 'backbone'), 'ingest', '--provider', 'csv', '--file', fixture]
        .concat(['--set', `database.url=${databaseUrl}`, '--set', 'ingest.batchRows=200'])
        .map((arg) => `'${arg.replaceAll("'", "'\\''")}'`)
        .join(' ');
      const { stdout } = await promisify(execFile)(SCRIPT, ['-qec', command, '/dev/null'], {
        cwd: ROOT,
        maxBuffer: 16 * 1024 * 1024,
      });
      // stdout and stderr share the terminal: the bar's final frame, then the JSON summary.
      expect(stdout).toMatch(/ingest \S+ 100% \| 504\/504 records \| \+504 ~0 =0 !0/);
      expect(stdout).not.toMatch(/window committed/);
      const summary = stdout
        .slice(stdout.indexOf('{\r\n'), stdout.lastIndexOf('}') + 1)
        .replaceAll('\r\n', '\n');
      expect(JSON.parse(summary)).toMatchObject({ status: 'succeeded', inserted: 504, windows: 3 });
    },
    SLOW,
  );
  it(
    'fails over to --fallback csv when Yahoo cannot be reached, and stores the bars once',
    async () => {
      const args = [
        'ingest',
        '--provider',
        'yahoo',
        '--fallback',
        'csv',
        '--symbols',
        'GBPUSD',
        '--from',
        '2024-11-18',
        '--to',
        '2026-11-20',
        // Port 1 refuses connections: a network failure, after no HTTP-level retries.
        '--set',
        'ingest.providers.yahoo.baseUrl=http://127.0.0.1:1',
        '--set',
        'ingest.providers.yahoo.maxRetries=0',
        '--set',
        `ingest.providers.csv.directory=${join(ROOT, 'fixtures/bars')}`,
      ];
      const first = await backbone(args);
      expect(first.code).toBe(0);
      expect(JSON.parse(first.stdout)).toMatchObject({ status: 'succeeded', inserted: 525, updated: 0 });
      expect(
        await scalar(`SELECT count(*) AS n FROM market_data.bars WHERE symbol = 'GBPUSD' AND source = 'csv'`),
      ).toBe(525);
      const second = await backbone(args);
      expect(JSON.parse(second.stdout)).toMatchObject({ inserted: 0, updated: 0, unchanged: 525 });
    },
    SLOW,
  );

  it(
    'refuses --merge-with with itself, a non-bar provider, --fallback or a csv file (exit 2)',
    async () => {
      const yahoo = ['ingest', '--provider', 'yahoo', '--symbols', 'EURUSD', '--from', '2026-11-16'];
      const [self, fred, both, file] = await Promise.all([
        backbone([...yahoo, '--merge-with', 'yahoo']),
        backbone([...yahoo, '--merge-with', 'csv,fred']),
        backbone([...yahoo, '--merge-with', 'csv', '--fallback', 'csv']),
        backbone([
          'ingest',
          '--provider',
          'csv',
          '--file',
          join(ROOT, 'fixtures/bars/SPY-1d.csv'),
          '--merge-with',
          'yahoo',
        ]),
      ]);
      expect(self).toMatchObject({ code: 2, stdout: '' });
      expect(self.stderr).toMatch(/mergeWith: must differ from --provider \(yahoo\)/);
      expect(fred.code).toBe(2);
      expect(fred.stderr).toMatch(/mergeWith\[1\]: "fred" is not a bar provider/);
      expect(both.code).toBe(2);
      expect(both.stderr).toMatch(/mergeWith: is not used with fallback/);
      expect(file.code).toBe(2);
      expect(file.stderr).toMatch(/mergeWith: is not used with --provider csv/);
    },
    SLOW,
  );

  it(
    'merges --merge-with csv after yahoo, goes on without Yahoo when it fails, and reports it in quality',
    async () => {
      const directory = join(scratch, 'merge-bars');
      await mkdir(directory, { recursive: true });
      await writeFile(
        join(directory, 'AUDUSD-1d.csv'),
        [
          'symbol,timeframe,ts,open,high,low,close,volume',
          'AUDUSD,1d,2026-11-16T00:00:00Z,0.6510,0.6540,0.6490,0.6520,0',
          'AUDUSD,1d,2026-11-17T00:00:00Z,0.6520,0.6550,0.6500,0.6530,0',
          'AUDUSD,1d,2026-11-18T00:00:00Z,0.6530,0.6560,0.6510,0.6540,0',
          '',
        ].join('\n'),
      );
      const args = [
        'ingest',
        '--provider',
        'yahoo',
        '--merge-with',
        'csv',
        '--drift-threshold-pct',
        '1',
        '--symbols',
        'AUDUSD',
        '--from',
        '2026-11-16',
        '--to',
        '2026-11-18',
        // Port 1 refuses connections: Yahoo fails, the merge goes on with csv.
        '--set',
        'ingest.providers.yahoo.baseUrl=http://127.0.0.1:1',
        '--set',
        'ingest.providers.yahoo.maxRetries=0',
        '--set',
        `ingest.providers.csv.directory=${directory}`,
      ];
      const first = await backbone(args);
      expect(first.code).toBe(0);
      const summary = JSON.parse(first.stdout) as {
        quality: { merge?: unknown; failedSources?: { provider: string }[] };
      };
      expect(summary).toMatchObject({ status: 'succeeded', inserted: 3, updated: 0 });
      expect(summary.quality.merge).toMatchObject({
        sources: ['yahoo', 'csv'],
        driftThresholdPct: 1,
        rowsBySource: { yahoo: 0, csv: 3 },
        drift: 0,
      });
      expect(summary.quality.failedSources?.map((failure) => failure.provider)).toEqual(['yahoo']);
      expect(
        await scalar(`SELECT count(*) AS n FROM market_data.bars WHERE symbol = 'AUDUSD' AND source = 'csv'`),
      ).toBe(3);
      const second = await backbone(args);
      expect(JSON.parse(second.stdout)).toMatchObject({ inserted: 0, updated: 0, unchanged: 3 });
    },
    SLOW,
  );
});
