import { getTableConfig, type PgTable } from 'drizzle-orm/pg-core';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MigrationDriftError } from './errors.ts';
import { loadMigrations } from './migration-files.ts';
import { migrate } from './migrate.ts';
import * as schema from './schema.ts';
import { runStorageMaintenance } from './storage-maintenance.ts';
import { storageMode } from './storage-mode.ts';
import { createTestDatabase, databaseServerUrl, type TestDatabase } from './test-support/database.ts';

// The machine's PostgreSQL 15: TimescaleDB is installed there but not preloaded, so plain partitioning.
let db: TestDatabase;
let client: pg.Client;

beforeAll(async () => {
  db = await createTestDatabase(databaseServerUrl('plain'), 'migrate');
  client = await db.connect();
});
afterAll(async () => {
  await db.drop();
});

describe('migrate on plain PostgreSQL', () => {
  it('reports the pending migrations in a dry run without changing anything', async () => {
    const plan = await migrate(client, { dryRun: true });
    expect(plan.mode).toBe('postgres-partitioned');
    // TimescaleDB is installed on this server but not preloaded: auto mode says why it chose plain.
    expect(plan.warnings).toEqual([expect.stringContaining("shared_preload_libraries = 'timescaledb'")]);
    expect(plan.pending.map((m) => m.version)).toEqual(
      loadMigrations('postgres-partitioned').map((m) => m.version),
    );
    const tables = await client.query(
      `SELECT 1 FROM pg_namespace WHERE nspname IN ('backbone', 'market_data')`,
    );
    expect(tables.rows).toHaveLength(0);
  });

  it('applies every migration once when two connections migrate at the same time', async () => {
    const other = await db.connect();
    const [first, second] = await Promise.all([migrate(client), migrate(other)]);
    const appliedTwice = [...first.applied, ...second.applied].map((m) => m.version).sort();
    expect(appliedTwice).toEqual(loadMigrations('postgres-partitioned').map((m) => m.version));
    const recorded = await client.query<{ version: number; mode: string }>(
      'SELECT version, mode FROM backbone.schema_migrations ORDER BY version',
    );
    expect(recorded.rows.map((row) => row.version)).toEqual(appliedTwice);
    expect(new Set(recorded.rows.map((row) => row.mode))).toEqual(new Set(['postgres-partitioned']));
    expect(await storageMode(client)).toBe('postgres-partitioned');
  });

  it('is a no-op the second time: nothing applied, every policy unchanged', async () => {
    const again = await migrate(client);
    expect(again.applied).toEqual([]);
    // The mode is recorded now: nothing left to choose, nothing to warn about.
    expect(again.warnings).toEqual([]);
    expect(again.partitionsCreated).toEqual([]);
    expect(again.policies.filter((p) => p.action !== 'unchanged')).toEqual([]);
  });

  it('partitions the market data tables by ts and creates partitions ahead', async () => {
    const partitioned = await client.query<{ table: string; strategy: string }>(
      `SELECT c.relname AS table, p.partstrat AS strategy FROM pg_partitioned_table p
       JOIN pg_class c ON c.oid = p.partrelid JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE n.nspname = 'market_data' ORDER BY 1`,
    );
    expect(partitioned.rows).toEqual([
      { table: 'bars', strategy: 'r' },
      { table: 'macro_events', strategy: 'r' },
      { table: 'ticks', strategy: 'r' },
    ]);
    // Ticks: 1-day partitions, 4 ahead by default, so the one covering now + 4 days exists.
    const ahead = await client.query<{ covered: boolean }>(
      `SELECT EXISTS (SELECT 1 FROM backbone.time_partitions('market_data.ticks')
                      WHERE range_start <= now() + interval '4 days' AND now() + interval '4 days' < range_end) AS covered`,
    );
    expect(ahead.rows[0]?.covered).toBe(true);
  });

  it('drops a partition that fell out of retention, and only that one', async () => {
    const created = await client.query<{ name: string }>(
      `SELECT backbone.ensure_time_partitions('market_data.ticks', now() - interval '30 days', now() - interval '30 days') AS name`,
    );
    const expired = created.rows[0]?.name ?? '';
    expect(expired).toMatch(/^market_data\.ticks_p\d{8}$/);
    await client.query(
      `INSERT INTO market_data.ticks (symbol, ts, sequence, price, size, source) VALUES ('EURUSD', now() - interval '30 days', 1, 1.1, 1, 'test')`,
    );
    const before = await client.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM backbone.time_partitions($1)',
      ['market_data.ticks'],
    );

    const result = await runStorageMaintenance(client);

    expect(result.mode).toBe('postgres-partitioned');
    expect(result.dropped).toEqual([expired]);
    const after = await client.query('SELECT count(*)::int AS n FROM backbone.time_partitions($1)', [
      'market_data.ticks',
    ]);
    expect(after.rows[0]).toEqual({ n: (before.rows[0]?.n ?? 0) - 1 });
    const left = await client.query('SELECT count(*)::int AS n FROM market_data.ticks');
    expect(left.rows[0]).toEqual({ n: 0 });
  });

  it('prunes bars per timeframe and drops bar partitions left empty', async () => {
    await client.query(
      `SELECT backbone.ensure_time_partitions('market_data.bars', now() - interval '60 days', now() - interval '60 days')`,
    );
    await client.query(
      `INSERT INTO market_data.bars (symbol, timeframe, ts, open, high, low, close, volume, source) VALUES
       ('EURUSD', '1m', date_trunc('minute', now() - interval '60 days'), 1, 1, 1, 1, 0, 'test'),
       ('EURUSD', '1d', date_trunc('day', now() - interval '60 days'), 1, 1, 1, 1, 0, 'test')`,
    );
    const first = await runStorageMaintenance(client);
    // 1m bars are kept 30 days, daily bars 100 years: the 1m bar goes, the partition stays.
    expect(first.barsPruned['1m']).toBe(1);
    expect(first.dropped).toEqual([]);
    const kept = await client.query<{ timeframe: string }>('SELECT timeframe FROM market_data.bars');
    expect(kept.rows).toEqual([{ timeframe: '1d' }]);

    await client.query(`DELETE FROM market_data.bars`);
    const second = await runStorageMaintenance(client);
    expect(second.dropped).toHaveLength(1);
    expect(second.dropped[0]).toMatch(/^market_data\.bars_p\d{8}$/);
  });

  it('refuses to run when an applied migration file changed', async () => {
    await client.query(`UPDATE backbone.schema_migrations SET checksum = 'edited' WHERE version = 1`);
    await expect(migrate(client)).rejects.toBeInstanceOf(MigrationDriftError);
    const fresh = loadMigrations('postgres-partitioned')[0];
    await client.query('UPDATE backbone.schema_migrations SET checksum = $1 WHERE version = 1', [
      fresh?.checksum,
    ]);
    // The advisory lock was released despite the failure: the next run proceeds.
    await expect(migrate(client)).resolves.toMatchObject({ applied: [] });
  });

  it('matches the drizzle schema: every drizzle column exists with the same type', async () => {
    const tables: PgTable[] = [
      schema.bars,
      schema.ticks,
      schema.macroEvents,
      schema.bars1h,
      schema.bars1d,
      schema.ingestRuns,
      schema.outbox,
      schema.consumerOffsets,
      schema.readinessSnapshots,
      schema.rejectedRows,
      schema.rejectedRecords,
      schema.barRetention,
      schema.schemaMigrations,
    ];
    for (const table of tables) {
      const config = getTableConfig(table);
      const columns = await client.query<{ column_name: string; type: string; nullable: boolean }>(
        `SELECT a.attname AS column_name, format_type(a.atttypid, a.atttypmod) AS type, NOT a.attnotnull AS nullable
         FROM pg_attribute a WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped`,
        [`${config.schema ?? 'public'}.${config.name}`],
      );
      const actual = Object.fromEntries(columns.rows.map((row) => [row.column_name, row.type]));
      const expected = Object.fromEntries(config.columns.map((column) => [column.name, column.getSQLType()]));
      const normalise = (type: string | undefined) => type?.replace(/^bigserial$/, 'bigint');
      for (const [name, type] of Object.entries(expected)) {
        expect({ table: config.name, name, type: normalise(actual[name]) }).toEqual({
          table: config.name,
          name,
          type: normalise(type),
        });
      }
      expect(Object.keys(actual).sort(), config.name).toEqual(Object.keys(expected).sort());
    }
  });
});
