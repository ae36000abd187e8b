import { createTestDatabase, type TestDatabase } from '@backbone/testing';
import type pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { InvalidRowError, NotInTransactionError } from './errors.ts';
import { mergeMacroEvents, type MacroEventRow } from './merge-macro-events.ts';
import { migrate } from './migrate.ts';
import { createPool, withTransaction } from './pool.ts';

// Both storage modes, each on its real server: the stack's TimescaleDB and the machine's plain PostgreSQL.
describe.each(['timescaledb', 'plain'] as const)('on the %s server', (server) => {
  let db: TestDatabase;
  let pool: pg.Pool;

  beforeAll(async () => {
    db = await createTestDatabase('t_macro_merge', { migrate, server });
    pool = createPool({ url: db.url, poolSize: 2 }, { applicationName: 'db-macro-merge-test' });
  });
  afterAll(async () => {
    await pool.end();
    await db.drop();
  });
  beforeEach(async () => {
    await pool.query('TRUNCATE market_data.macro_events');
  });

  function event(overrides: Partial<MacroEventRow> = {}): MacroEventRow {
    return {
      source: 'fred',
      eventId: 'PAYEMS@2026-11-06',
      ts: '2026-11-06T13:30:00Z',
      name: 'Nonfarm Payrolls',
      calendar: 'us',
      currency: 'USD',
      actual: 160013,
      forecast: null,
      previous: 159861,
      importance: 'high',
      revision: 0,
      ...overrides,
    };
  }

  const merge = (events: MacroEventRow[], runId = 'run-1') =>
    withTransaction(pool, (client) => mergeMacroEvents(client, events, { runId }));

  async function stored() {
    const result = await pool.query<{
      event_id: string;
      ts: Date;
      actual: number | null;
      previous: number | null;
      revision: number;
      ingest_run_id: string;
    }>(
      `SELECT event_id, ts, actual, previous, revision, ingest_run_id
       FROM market_data.macro_events ORDER BY ts, event_id`,
    );
    return result.rows;
  }

  describe('mergeMacroEvents', () => {
    it('inserts, then leaves an identical batch untouched', async () => {
      const batch = [event(), event({ eventId: 'CPIAUCSL@2026-11-12', ts: '2026-11-12T13:30:00Z' })];
      expect(await merge(batch)).toEqual({ inserted: 2, updated: 0, unchanged: 0, duplicatesInBatch: 0 });
      expect(await merge(batch, 'run-2')).toEqual({
        inserted: 0,
        updated: 0,
        unchanged: 2,
        duplicatesInBatch: 0,
      });
      const rows = await stored();
      expect(rows.map((row) => [row.event_id, row.revision, row.ingest_run_id])).toEqual([
        ['PAYEMS@2026-11-06', 0, 'run-1'],
        ['CPIAUCSL@2026-11-12', 0, 'run-1'],
      ]);
    });

    it('fills in a scheduled release (actual null → value) as an update with a new revision', async () => {
      await merge([event({ actual: null, previous: null })]);
      expect(await merge([event()], 'run-2')).toEqual({
        inserted: 0,
        updated: 1,
        unchanged: 0,
        duplicatesInBatch: 0,
      });
      expect(await stored()).toEqual([
        expect.objectContaining({ actual: 160013, previous: 159861, revision: 1, ingest_run_id: 'run-2' }),
      ]);
    });

    it('keeps the last event per key within a batch and counts the superseded ones', async () => {
      const counts = await merge([event({ actual: 1 }), event({ actual: 2 }), event({ actual: 3 })]);
      expect(counts).toEqual({ inserted: 1, updated: 0, unchanged: 0, duplicatesInBatch: 2 });
      expect((await stored()).map((row) => row.actual)).toEqual([3]);
    });

    it('creates the partitions (plain) or chunks (TimescaleDB) for events far from today', async () => {
      const old = event({ eventId: 'GDP@2024-01-25', ts: '2024-01-25T13:30:00Z' });
      const future = event({ eventId: 'PAYEMS@2027-06-04', ts: '2027-06-04T12:30:00Z', actual: null });
      expect((await merge([old, future])).inserted).toBe(2);
      expect((await stored()).map((row) => row.ts.toISOString())).toEqual([
        '2024-01-25T13:30:00.000Z',
        '2027-06-04T12:30:00.000Z',
      ]);
    });

    it('refuses a non-finite value naming the row and field, and stores nothing of the batch', async () => {
      await expect(merge([event(), event({ eventId: 'X@1', actual: Number.NaN })])).rejects.toThrow(
        new InvalidRowError(1, 'actual', 'is not a finite number or null'),
      );
      expect(await stored()).toEqual([]);
    });

    it('refuses to run outside a transaction', async () => {
      const client = await pool.connect();
      try {
        await expect(mergeMacroEvents(client, [event()])).rejects.toBeInstanceOf(NotInTransactionError);
      } finally {
        client.release();
      }
      expect(await stored()).toEqual([]);
    });
  });
});
