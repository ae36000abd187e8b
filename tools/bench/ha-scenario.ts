import { join } from 'node:path';
import type { SystemConfig } from '@backbone/config';
import { createKafkajsClient } from '@backbone/kafka';
import { startPrivateHaCluster, synchronousPairReady, type PrivateHaCluster } from '@backbone/stack';
import { createBenchDatabase, uniqueBenchName, withClient, type BenchDatabase } from './database.ts';
import { ratio, series, type Series } from './measure.ts';
import { runIngestOnce, writeProviderCsv } from './ingest-scenario.ts';
import { produceBenchBars, runSinkOnce } from './sink-scenario.ts';

export interface HaScenarioOptions {
  readonly config: SystemConfig;
  readonly bars: number;
  readonly rows: number;
  readonly repetitions: number;
  readonly workDir: string;
  readonly timeoutMs: number;
  readonly log: (message: string) => void;
}

/** One target of the comparison. */
type Side = 'single' | 'haLocal' | 'haSync';

export interface HaSideResult {
  readonly sink: Series;
  readonly ingest: Series;
}

export interface HaScenarioResult {
  readonly bars: number;
  readonly rows: number;
  /** The single node: the stack's own TimescaleDB server (`database.url`), redacted of credentials. */
  readonly singleServer: string;
  /** Server settings that bear on write speed, per server (they differ between the two clusters). */
  readonly settings: { readonly single: Record<string, string>; readonly ha: Record<string, string> };
  /** The stack's TimescaleDB server, no replication. */
  readonly single: HaSideResult;
  /** The HA cluster through HAProxy with `synchronous_commit = local`: the hop and the server, no wait for the standby. */
  readonly haLocal: HaSideResult;
  /** The HA cluster through HAProxy with `synchronous_commit = on` and a streaming `sync` standby (the default). */
  readonly haSync: HaSideResult;
  /** haSync / single (sink, ingest): the whole price of HA as workers see it. */
  readonly syncToSingle: { readonly sink: number; readonly ingest: number };
  /** haSync / haLocal: the price of waiting for the standby's flush alone, same server and hop. */
  readonly syncToLocal: { readonly sink: number; readonly ingest: number };
}

const SETTINGS = [
  'shared_buffers',
  'max_wal_size',
  'wal_level',
  'fsync',
  'full_page_writes',
  'wal_log_hints',
];

/**
 * Scenario 7: the cost of synchronous replication. The sink (the same pre-produced topic, a
 * fresh group each time) and the CSV ingest run, in the same run, against the stack's single
 * TimescaleDB server and against a private HA cluster (Patroni primary + synchronous standby,
 * started on free ports for the scenario) through its HAProxy, once with the database's
 * `synchronous_commit = local` and once with `on` (a commit waits for the standby's flush). The
 * order of the three sides rotates with each repetition.
 */
export async function runHaScenario(options: HaScenarioOptions): Promise<HaScenarioResult> {
  const { config, bars, rows, repetitions, log } = options;
  log('ha: starting a private HA cluster');
  const cluster = await startPrivateHaCluster({ purpose: 'bench', log });
  const kafka = createKafkajsClient({ ...config.kafka, clientId: 'backbone-bench-ha', logLevel: 'error' });
  const admin = kafka.admin();
  const topic = uniqueBenchName('bench_ha_bars');
  const databases: BenchDatabase[] = [];
  try {
    const single = await createBenchDatabase(config.database.url, 'bench_ha_single');
    databases.push(single);
    const ha = await createBenchDatabase(cluster.endpoints.databaseUrl, 'bench_ha');
    databases.push(ha);
    await admin.connect();
    const partitions = config.kafka.topics['market.bars.v1'].partitions;
    await admin.createTopics([{ name: topic, partitions, replicationFactor: 1, configs: {} }]);
    await produceBenchBars(kafka, config, topic, bars);
    const csv = join(options.workDir, 'ha-ingest-1m.csv');
    await writeProviderCsv(csv, rows);

    const samples: Record<Side, { sink: number[]; ingest: number[] }> = {
      single: { sink: [], ingest: [] },
      haLocal: { sink: [], ingest: [] },
      haSync: { sink: [], ingest: [] },
    };
    const sides: Side[] = ['single', 'haLocal', 'haSync'];
    for (let i = 0; i < repetitions; i++) {
      for (const side of [...sides.slice(i % 3), ...sides.slice(0, i % 3)]) {
        const database = side === 'single' ? single : ha;
        if (side !== 'single') await setSynchronousCommit(cluster, ha, side === 'haSync' ? 'on' : 'local');
        await database.reset();
        const run = await runSinkOnce(kafka, config, database, topic, bars, options.timeoutMs);
        samples[side].sink.push(bars / run.fromAssignment);
        await database.reset();
        samples[side].ingest.push(await runIngestOnce(config, database, csv, rows));
        log(
          `ha: repetition ${String(i + 1)} ${side}: sink ${String(Math.round(samples[side].sink.at(-1) ?? 0))}, ingest ${String(Math.round(samples[side].ingest.at(-1) ?? 0))} rows/s`,
        );
      }
    }
    const result = (side: Side): HaSideResult => ({
      sink: series(samples[side].sink),
      ingest: series(samples[side].ingest),
    });
    const [singleResult, haLocal, haSync] = [result('single'), result('haLocal'), result('haSync')];
    return {
      bars,
      rows,
      singleServer: redactedServer(config.database.url),
      settings: { single: await serverSettings(single.url), ha: await serverSettings(ha.url) },
      single: singleResult,
      haLocal,
      haSync,
      syncToSingle: {
        sink: ratio(haSync.sink, singleResult.sink),
        ingest: ratio(haSync.ingest, singleResult.ingest),
      },
      syncToLocal: { sink: ratio(haSync.sink, haLocal.sink), ingest: ratio(haSync.ingest, haLocal.ingest) },
    };
  } finally {
    await admin.deleteTopics([topic]).catch(() => undefined);
    await admin.close();
    for (const database of databases) await database.drop().catch(() => undefined);
    await cluster.dispose();
  }
}

/**
 * Sets the benchmark database's `synchronous_commit` (new sessions take it) and checks that the
 * pair is synchronous, so `on` really waits for the standby's flush.
 */
async function setSynchronousCommit(
  cluster: PrivateHaCluster,
  database: BenchDatabase,
  value: 'on' | 'local',
): Promise<void> {
  if (!(await synchronousPairReady(cluster.ha))) {
    throw new Error(
      'the HA cluster has no streaming synchronous standby: the measurement would not be of synchronous replication',
    );
  }
  // `database.name` is generated by uniqueBenchName: a safe identifier.
  await withClient(database.url, (client) =>
    client.query(`ALTER DATABASE ${database.name} SET synchronous_commit = ${value}`),
  );
  const [row] = await withClient(
    database.url,
    async (client) =>
      (await client.query<{ value: string }>("SELECT current_setting('synchronous_commit') AS value")).rows,
  );
  if (row?.value !== value) throw new Error(`synchronous_commit is ${String(row?.value)}, expected ${value}`);
}

async function serverSettings(url: string): Promise<Record<string, string>> {
  return withClient(url, async (client) => {
    const { rows } = await client.query<{ name: string; setting: string }>(
      'SELECT name, current_setting(name) AS setting FROM unnest($1::text[]) AS name',
      [SETTINGS],
    );
    return Object.fromEntries(rows.map((row) => [row.name, row.setting]));
  });
}

function redactedServer(url: string): string {
  const parsed = new URL(url);
  return `${parsed.hostname}:${parsed.port}`;
}
