import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { DEAD_LETTER_HEADERS } from '@backbone/contracts';
import { testEndpoints, uniqueName, waitFor } from '@backbone/testing';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { barKey, barRecord, validBar } from './test-support/bars.ts';
import {
  createMigratedDatabase,
  createTestKafka,
  type TestDatabase,
  type TestKafka,
} from './test-support/stack.ts';
import { readTopic } from './test-support/topics.ts';

const SINK_PROCESS = fileURLToPath(new URL('./test-support/sink-process.ts', import.meta.url));

let db: TestDatabase;
let kafka: TestKafka;
const children: ChildProcess[] = [];

beforeAll(async () => {
  [db, kafka] = await Promise.all([createMigratedDatabase('stream_crash'), createTestKafka()]);
});

afterAll(async () => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  await kafka.dispose();
  await db.drop();
});

/** Starts a sink process; resolves with it and a live view of the lines it printed. */
function startSinkProcess(options: Record<string, unknown>): { child: ChildProcess; lines: string[] } {
  const child = spawn(process.execPath, [SINK_PROCESS, JSON.stringify(options)], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  children.push(child);
  const lines: string[] = [];
  let buffered = '';
  child.stdout.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    const parts = buffered.split('\n');
    buffered = parts.pop() ?? '';
    lines.push(...parts);
  });
  return { child, lines };
}

async function killHard(child: ChildProcess): Promise<void> {
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

async function storedOffset(groupId: string, topic: string): Promise<bigint> {
  const result = await db.pool.query<{ next_offset: string }>(
    'SELECT next_offset::text AS next_offset FROM backbone.consumer_offsets WHERE group_id = $1 AND topic = $2',
    [groupId, topic],
  );
  return BigInt(result.rows[0]?.next_offset ?? -1);
}

it(
  'kill -9 between the database commit and the Kafka commit, three times: the table equals the valid records',
  { timeout: 240_000 },
  async () => {
    const topic = await kafka.topic('bars');
    const deadLetterTopic = await kafka.topic('dlq');
    const groupId = uniqueName('sink');
    const base = {
      databaseUrl: db.url,
      brokers: testEndpoints().kafkaBrokers,
      groupId,
      topic,
      deadLetterTopic,
      ingestEventsTopic: 'crash-events',
      maxBatchRecords: 50,
    };
    // 1000 records, every 25th one poison (40 dead letters), so most slices hold both kinds.
    const valid: ReturnType<typeof validBar>[] = [];
    const records = Array.from({ length: 1000 }, (_, i) => {
      if (i % 25 === 24) return { key: 'SYM9400', value: `poison ${i}` };
      const bar = validBar(9400 + (i % 4), i);
      valid.push(bar);
      return barRecord(bar);
    });
    await kafka.producer.send(topic, records);
    const poisonOffsets = records.flatMap((record, offset) =>
      record.value.startsWith('poison') ? [String(offset)] : [],
    );

    const started = performance.now();
    for (let round = 1; round <= 3; round += 1) {
      const { child, lines } = startSinkProcess({ ...base, holdAfterCommits: 2 });
      const hold = await waitFor(() => lines.find((line) => line.startsWith('HOLD ')), {
        timeoutMs: 60_000,
        description: `round ${round}: the sink holding after a database commit`,
      });
      const databaseOffset = BigInt(hold.slice('HOLD '.length));
      expect(await storedOffset(groupId, topic)).toBe(databaseOffset);
      // The window under test: the database is ahead of the group's offset in Kafka.
      const [kafkaOffset] = await kafka.admin.fetchGroupOffsets(groupId, [topic]);
      expect(kafkaOffset?.offset ?? -1n).toBeLessThan(databaseOffset);
      await killHard(child);
      console.info(
        `round ${round}: held at ${databaseOffset}, killed at ${Math.round(performance.now() - started)} ms`,
      );
    }

    const { child } = startSinkProcess(base);
    try {
      await waitFor(async () => (await storedOffset(groupId, topic)) === BigInt(records.length), {
        timeoutMs: 60_000,
        description: 'the last sink to commit every record',
      });
    } finally {
      await killHard(child);
    }

    const rows = await db.pool.query<{ symbol: string; ts: Date; revision: number }>(
      `SELECT symbol, ts, revision FROM market_data.bars WHERE symbol LIKE 'SYM94%'`,
    );
    expect(rows.rows.map((row) => barKey(row.symbol, row.ts)).sort()).toEqual(
      valid.map((bar) => barKey(bar.symbol, bar.ts)).sort(),
    );
    // No record was ever applied twice: a re-applied identical bar would still be revision 0, so
    // the ingest events are counted as well: every valid record inserted exactly once.
    expect(rows.rows.every((row) => row.revision === 0)).toBe(true);
    const counts = await db.pool.query<{ inserted: number; unchanged: number; rejected: number }>(
      `SELECT coalesce(sum((payload->'counts'->>'inserted')::int), 0)::int AS inserted,
            coalesce(sum((payload->'counts'->>'unchanged')::int), 0)::int AS unchanged,
            coalesce(sum((payload->'counts'->>'rejected')::int), 0)::int AS rejected
     FROM backbone.outbox WHERE topic = 'crash-events'`,
    );
    expect(counts.rows[0]).toEqual({ inserted: valid.length, unchanged: 0, rejected: poisonOffsets.length });

    // The DLQ is at-least-once: every poison record is there; a repeat names the same offset.
    const deadLetters = await readTopic(kafka.client, deadLetterTopic, poisonOffsets.length);
    const dlqOffsets = new Set(
      deadLetters.map((record) => record.headers[DEAD_LETTER_HEADERS.originalOffset]),
    );
    expect([...dlqOffsets].sort()).toEqual([...poisonOffsets].sort());
  },
);

it(
  'a zombie that lost its partition mid-batch applies nothing: the offset fence',
  { timeout: 180_000 },
  async () => {
    const topic = await kafka.topic('bars');
    const groupId = uniqueName('sink');
    const base = {
      databaseUrl: db.url,
      brokers: testEndpoints().kafkaBrokers,
      groupId,
      topic,
      deadLetterTopic: await kafka.topic('dlq'),
      ingestEventsTopic: 'zombie-events',
      maxBatchRecords: 1000,
    };
    const bars = Array.from({ length: 100 }, (_, minute) => validBar(9500, minute));
    await kafka.producer.send(topic, bars.map(barRecord));

    // The zombie fetches the batch and stops right before its transaction.
    const zombie = startSinkProcess({ ...base, holdBeforeFirstSlice: true });
    await waitFor(() => zombie.lines.includes('PAUSED 0-99'), {
      timeoutMs: 60_000,
      description: 'the zombie holding a fetched batch',
    });
    // It neither heartbeats nor rejoins, so the group gives its partition to a successor.
    const successor = startSinkProcess(base);
    try {
      await waitFor(async () => (await storedOffset(groupId, topic)) === 100n, {
        timeoutMs: 60_000,
        description: 'the successor to apply the partition',
      });
      // The zombie wakes up and applies its stale batch: the fence makes that a no-op.
      zombie.child.stdin?.write('continue\n');
      const committed = await waitFor(() => zombie.lines.find((line) => line.startsWith('COMMITTED ')), {
        timeoutMs: 30_000,
        description: "the zombie's transaction",
      });
      expect(committed).toBe('COMMITTED 100 fenced=100/100');
    } finally {
      await Promise.all([killHard(zombie.child), killHard(successor.child)]);
    }
    const rows = await db.pool.query<{ revision: number }>(
      `SELECT revision FROM market_data.bars WHERE symbol = 'SYM9500'`,
    );
    expect(rows.rows.length).toBe(bars.length);
    expect(rows.rows.every((row) => row.revision === 0)).toBe(true);
    const inserted = await db.pool.query<{ inserted: number; events: number }>(
      `SELECT coalesce(sum((payload->'counts'->>'inserted')::int), 0)::int AS inserted, count(*)::int AS events
     FROM backbone.outbox WHERE topic = 'zombie-events'`,
    );
    expect(inserted.rows[0]?.inserted).toBe(bars.length);
  },
);
