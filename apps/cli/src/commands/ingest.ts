import { createReadStream } from 'node:fs';
import { redactText, type SystemConfig } from '@backbone/config';
import { createPool } from '@backbone/db';
import {
  IngestUsageError,
  isBadInput,
  parseIngestRequest,
  runIngest,
  type IngestProgress,
  type IngestRequest,
} from '@backbone/ingest';
import { createLogger } from '@backbone/telemetry';
import { SingleBar } from 'cli-progress';
import type { Command } from 'commander';
import { loadCliConfig } from '../load-cli-config.ts';

interface IngestOptions {
  provider?: string;
  file: string[];
  symbols?: string;
  timeframe?: string;
  from?: string;
  to?: string;
  fallback?: string;
  mergeWith?: string;
  driftThresholdPct?: string;
}

/**
 * `./backbone ingest`: one ingest run in the foreground. Prints the run's JSON summary on stdout;
 * progress goes to stderr (a bar on a terminal, JSON lines otherwise). Exit 0 when the run
 * succeeded, 1 when it failed or was partial, 2 for a bad request or an unreadable file.
 */
export function registerIngestCommand(program: Command): void {
  program
    .command('ingest')
    .description(
      'Ingest once: --provider csv --file PATH | --provider yahoo --symbols A,B --timeframe 1d --from DATE [--to DATE] [--fallback csv | --merge-with csv [--drift-threshold-pct 0.5]] ' +
        '| --provider fred [--symbols PAYEMS,CPIAUCSL] --from DATE [--to DATE] (macro events). ' +
        'Prints {runId, inserted, updated, unchanged, rejected, freshnessSeconds, quality} as JSON.',
    )
    .option('--provider <name>', 'csv, yahoo or fred')
    .option('--file <path>', 'CSV file to ingest whole (repeatable; --provider csv)', collect, [])
    .option(
      '--symbols <list>',
      'comma-separated symbols, e.g. EURUSD,SPY (--provider yahoo), or FRED series ids (--provider fred)',
    )
    .option('--timeframe <timeframe>', '1m, 5m, 15m, 30m, 1h or 1d (default 1d)')
    .option('--from <date>', 'start, YYYY-MM-DD (UTC) or ISO-8601 with a zone')
    .option('--to <date>', 'end, inclusive for a date (default: now)')
    .option(
      '--fallback <provider>',
      'a different provider (csv) asked for the symbols --provider yahoo fails on; csv reads <SYMBOL>-<timeframe>.csv from ingest.providers.csv.directory',
    )
    .option(
      '--merge-with <providers>',
      'comma-separated providers (csv) asked too and merged after --provider yahoo by priority: each bar from the most ' +
        'trusted source that has it; disagreeing closes are counted as drift in quality.merge; a failing source is left ' +
        'out and listed in quality.failedSources. Not with --fallback',
    )
    .option(
      '--drift-threshold-pct <percent>',
      'with --merge-with: close difference counted as drift, in percent of the stored close (default 0.5)',
    )
    .action(async (options: IngestOptions) => {
      const config = loadCliConfig();
      let request: IngestRequest;
      try {
        request = parseIngestRequest(
          {
            provider: options.provider,
            files: options.file,
            symbols: options.symbols,
            timeframe: options.timeframe,
            from: options.from,
            to: options.to,
            fallback: options.fallback,
            mergeWith: options.mergeWith,
            driftThresholdPct: options.driftThresholdPct,
          },
          new Date(),
        );
      } catch (error) {
        if (!(error instanceof IngestUsageError)) throw error;
        process.stderr.write(`backbone ingest: ${error.message}\n`);
        process.exitCode = 2;
        return;
      }
      await ingest(config, request);
    });
}

async function ingest(config: SystemConfig, request: IngestRequest): Promise<void> {
  const pool = createPool(config.database, { applicationName: 'backbone-cli-ingest' });
  const progress = await createProgress(request, config);
  try {
    const result = await runIngest({ pool, config, onProgress: progress.update }, request);
    progress.stop();
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    process.exitCode = result.status === 'succeeded' ? 0 : 1;
  } catch (error) {
    progress.stop();
    const message = redactText(error instanceof Error ? error.message : String(error));
    process.stderr.write(`backbone ingest: ${message}\n`);
    // An unreadable file is bad input, like a bad option; anything else is a failed run.
    process.exitCode = isBadInput(error) ? 2 : 1;
  } finally {
    await pool.end();
  }
}

interface ProgressReporter {
  update: (progress: IngestProgress) => void;
  stop: () => void;
}

/** A bar on a terminal; JSON log lines (one per committed window) otherwise. */
async function createProgress(request: IngestRequest, config: SystemConfig): Promise<ProgressReporter> {
  if (process.stderr.isTTY) {
    const total = request.provider === 'csv' ? await countDataLines(request.files) : 0;
    const bar = new SingleBar({
      stream: process.stderr,
      format:
        request.provider === 'csv'
          ? 'ingest {bar} {percentage}% | {value}/{total} records | +{inserted} ~{updated} ={unchanged} !{rejected}'
          : 'ingest {windows} windows | {value} records | +{inserted} ~{updated} ={unchanged} !{rejected}',
      hideCursor: true,
    });
    bar.start(total, 0, { inserted: 0, updated: 0, unchanged: 0, rejected: 0, windows: 0 });
    return {
      update: (progress) => {
        bar.update(progress.recordsRead, { ...progress, windows: progress.windowsCommitted });
      },
      stop: () => {
        bar.stop();
      },
    };
  }
  const log = createLogger({ name: 'ingest', level: config.telemetry.logLevel, destination: process.stderr });
  return {
    update: (progress) => {
      log.info(progress, 'window committed');
    },
    stop: () => undefined,
  };
}

/** Data lines of the CSV files (header excluded), for the progress bar's total. */
async function countDataLines(files: readonly string[]): Promise<number> {
  let lines = 0;
  for (const file of files) {
    let fileLines = 0;
    for await (const chunk of createReadStream(file)) {
      for (const byte of chunk as Buffer) if (byte === 0x0a) fileLines += 1;
    }
    lines += Math.max(0, fileLines - 1);
  }
  return lines;
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}
