/**
 * A bar sink in a process of its own, for crash tests: `node sink-process.ts '<json options>'`.
 * With `holdAfterCommits: n`, the n-th slice is committed to the database and then the process
 * prints `HOLD <next offset>` and waits forever, before resolving or committing that offset to
 * Kafka: the window a `kill -9` is aimed at. With `holdBeforeFirstSlice`, the first slice is
 * fetched and then held before its transaction (`PAUSED <first>-<last>`) until a line arrives on
 * stdin: a zombie that lost its partition meanwhile. Every committed slice prints
 * `COMMITTED <next offset> fenced=<n>/<records>`. Prints `READY` once consuming.
 */
import { createInterface } from 'node:readline';
import { createKafkajsClient } from '@backbone/kafka';
import { createLogger } from '@backbone/telemetry';
import pg from 'pg';
import { BarSink } from '../bar-sink.ts';
import { barRulesNow } from './bars.ts';

interface SinkProcessOptions {
  databaseUrl: string;
  brokers: string[];
  groupId: string;
  topic: string;
  deadLetterTopic: string;
  ingestEventsTopic: string;
  maxBatchRecords: number;
  holdAfterCommits?: number;
  holdBeforeFirstSlice?: boolean;
}

const options = JSON.parse(process.argv[2] ?? '{}') as SinkProcessOptions;
const pool = new pg.Pool({ connectionString: options.databaseUrl, max: 2 });
let commits = 0;
let slices = 0;
const stdinLines = createInterface({ input: process.stdin });
async function nextStdinLine(): Promise<void> {
  await new Promise<void>((resolve) => {
    stdinLines.once('line', () => {
      resolve();
    });
  });
}
const sink = new BarSink({
  kafka: createKafkajsClient({ brokers: options.brokers, clientId: 'sink-process', logLevel: 'error' }),
  pool,
  logger: createLogger({ name: 'sink-process', level: 'error' }),
  groupId: options.groupId,
  topic: options.topic,
  deadLetterTopic: options.deadLetterTopic,
  ingestEventsTopic: options.ingestEventsTopic,
  maxBatchRecords: options.maxBatchRecords,
  maxBatchBytes: 1_048_576,
  maxMessageBytes: 4096,
  sessionTimeoutMs: 6_000,
  rules: { now: barRulesNow, maxFutureSkewMs: 0 },
  faults: {
    beforeSlice: async ({ firstOffset, lastOffset }) => {
      slices += 1;
      if (slices !== 1 || options.holdBeforeFirstSlice !== true) return;
      process.stdout.write(`PAUSED ${firstOffset}-${lastOffset}\n`);
      await nextStdinLine();
    },
    afterDatabaseCommit: async ({ nextOffset, fenced, records }) => {
      process.stdout.write(`COMMITTED ${nextOffset} fenced=${fenced}/${records}\n`);
      commits += 1;
      if (commits !== options.holdAfterCommits) return;
      process.stdout.write(`HOLD ${nextOffset}\n`);
      await new Promise(() => undefined);
    },
  },
});
await sink.start();
process.stdout.write('READY\n');
