import { redactText } from '@backbone/config';
import { ServiceStartError, StackError } from './errors.ts';
import { ensureHaCluster, haClusterStatus, stopHaCluster, type HaMemberStatus } from './ha/ha-cluster.ts';
import { ensureKafka, probeKafka, stopKafka } from './kafka.ts';
import { stackEndpoints, type StackOptions } from './options.ts';
import { ensurePlainPostgres, probePostgres, stopPlainPostgres, type PostgresProbe } from './postgres.ts';
import { ensureRedis, probeRedis, stopRedis } from './redis.ts';
import { readState, updateState, withStackLock, type StackState } from './state.ts';
import { ensureTimescaleCluster, stopTimescaleCluster, timescaleWarnings } from './timescale-cluster.ts';

/**
 * `timescaledb`: the stack's TimescaleDB server (the default database); `postgres`: the machine's
 * plain PostgreSQL, the target of the plain-PostgreSQL storage-mode tests; `ha`: the Patroni
 * cluster of `up --ha`.
 */
export type ServiceName = 'timescaledb' | 'postgres' | 'redis' | 'kafka' | 'ha';

/** One service as `stack status` reports it: always from a live probe. */
export interface ServiceStatus {
  service: ServiceName;
  /** Redacted: never carries a password. */
  endpoint: string;
  state: 'up' | 'down';
  version: string | undefined;
  /** `backbone` when `stack up` started it (and `down` will stop it), otherwise `external`. */
  managedBy: 'backbone' | 'external';
  /** Why it is down, when it is. */
  error: string | undefined;
  /** Things that work but are wrong, e.g. Redis evicting keys. */
  warnings: string[];
  /** `ha` only: each Patroni member's role and state. */
  members?: HaMemberStatus[];
}

/**
 * Probes the four services in parallel, and the HA cluster when `options.ha.enabled` or a
 * previous `up --ha` recorded it.
 *
 * @example const down = (await stackStatus(stackOptions())).filter((s) => s.state === 'down');
 */
export async function stackStatus(options: StackOptions): Promise<ServiceStatus[]> {
  const endpoints = stackEndpoints(options);
  const [state, timescaledb, postgres, redis, kafka] = await Promise.all([
    readState(options.cacheDir),
    probePostgres(options.postgres),
    probePostgres(options.plainPostgres),
    probeRedis(options.redis),
    probeKafka(options.kafka),
  ]);
  const managedBy = (service: ServiceName): ServiceStatus['managedBy'] =>
    state[service] ? 'backbone' : 'external';
  const postgresStatus = (
    service: 'timescaledb' | 'postgres',
    probe: PostgresProbe,
    url: string,
    database: string,
    warnings: (up: PostgresProbe & { state: 'up' }) => string[],
  ): ServiceStatus => ({
    service,
    endpoint: redactText(url),
    state: probe.state,
    version:
      probe.state !== 'up'
        ? undefined
        : service === 'timescaledb' && probe.timescaledb.available !== undefined
          ? `${probe.version}; TimescaleDB ${probe.timescaledb.available}`
          : probe.version,
    managedBy: managedBy(service),
    error: probe.state === 'down' ? redactText(probe.error.message) : undefined,
    warnings:
      probe.state === 'up'
        ? [
            ...(probe.databaseExists
              ? []
              : [`database ${database} does not exist; \`./backbone stack up\` creates it`]),
            ...warnings(probe),
          ]
        : [],
  });
  const ha =
    options.ha.enabled || state.ha
      ? [{ service: 'ha' as const, managedBy: managedBy('ha'), ...(await haClusterStatus(options.ha)) }]
      : [];
  return [
    postgresStatus('timescaledb', timescaledb, endpoints.databaseUrl, options.postgres.database, (up) =>
      timescaleWarnings(up, options.postgres),
    ),
    postgresStatus(
      'postgres',
      postgres,
      endpoints.plainDatabaseUrl,
      options.plainPostgres.database,
      () => [],
    ),
    {
      service: 'redis',
      endpoint: endpoints.redisUrl,
      state: redis.state,
      version: redis.state === 'up' ? redis.version : undefined,
      managedBy: managedBy('redis'),
      error: redis.state === 'down' ? redis.error.message : undefined,
      warnings: redis.state === 'up' ? redis.warnings : [],
    },
    {
      service: 'kafka',
      endpoint: endpoints.kafkaBrokers.join(','),
      state: kafka.state,
      version: kafka.state === 'up' ? kafka.version : undefined,
      managedBy: managedBy('kafka'),
      error: kafka.state === 'down' ? kafka.error.message : undefined,
      warnings: [],
    },
    ...ha,
  ];
}

/**
 * Brings TimescaleDB, the plain PostgreSQL, Redis and Kafka up (and the HA cluster with
 * `options.ha.enabled`), reusing what already answers and starting the rest (building the
 * TimescaleDB extension first when it is missing).
 * Idempotent. When a step fails, stops what this call started before rethrowing, so a failed
 * `up` leaves nothing half-started.
 *
 * @example const statuses = await stackUp(stackOptions({ log: console.log }));
 */
export async function stackUp(options: StackOptions): Promise<ServiceStatus[]> {
  await withStackLock(options.cacheDir, async () => {
    const startedNow: ServiceName[] = [];
    let current: ServiceName = 'timescaledb';
    try {
      const timescaledb = await ensureTimescaleCluster(options);
      if (timescaledb) await record(options, startedNow, 'timescaledb', timescaledb);
      current = 'postgres';
      const postgres = await ensurePlainPostgres(options.plainPostgres, options.log);
      if (postgres) await record(options, startedNow, 'postgres', postgres);
      current = 'redis';
      const redis = await ensureRedis(options.redis, {
        cacheDir: options.cacheDir,
        redisServer: options.commands.redisServer,
        maxmemory: options.redisMaxmemory,
        startTimeoutMs: options.startTimeoutMs,
        log: options.log,
      });
      if (redis) await record(options, startedNow, 'redis', redis);
      current = 'kafka';
      const kafka = await ensureKafka(options);
      if (kafka) await record(options, startedNow, 'kafka', kafka);
      if (options.ha.enabled) {
        current = 'ha';
        // Records each process it starts in the state file itself, and stops them when it fails.
        await ensureHaCluster(options.ha, options.cacheDir, options.log);
      }
    } catch (error) {
      for (const service of startedNow.reverse()) {
        options.log(`stopping ${service}, which this failed \`up\` started`);
        await stopService(options, service).catch((stopError: unknown) => {
          options.log(`could not stop ${service}: ${String(stopError)}`);
        });
      }
      // Every failure leaves as a StackError naming the service, so the CLI prints one line and
      // exits 1 instead of a stack trace (e.g. a failing storage format, CREATE DATABASE denied).
      if (error instanceof StackError) throw error;
      throw new ServiceStartError(
        current,
        `${current} could not be brought up: ${redactText(error instanceof Error ? error.message : String(error))}`,
        { cause: error },
      );
    }
  });
  return stackStatus(options);
}

async function record<S extends Exclude<ServiceName, 'ha'>>(
  options: StackOptions,
  startedNow: ServiceName[],
  service: S,
  started: NonNullable<StackState[S]>,
): Promise<void> {
  startedNow.push(service);
  await updateState(options.cacheDir, (state) => {
    state[service] = started;
  });
}

async function stopService(options: StackOptions, service: ServiceName): Promise<void> {
  if (service === 'ha') {
    await stopHaCluster(options.ha, options.cacheDir);
    return;
  }
  const state = await readState(options.cacheDir);
  if (service === 'timescaledb' && state.timescaledb) await stopTimescaleCluster(state.timescaledb);
  if (service === 'postgres' && state.postgres) await stopPlainPostgres(state.postgres);
  if (service === 'redis' && state.redis) await stopRedis(state.redis);
  if (service === 'kafka' && state.kafka) await stopKafka(state.kafka);
  await updateState(options.cacheDir, (next) => {
    next[service] = undefined;
  });
}

/**
 * Stops what `stackUp` started (the HA cluster and Kafka first, TimescaleDB last), and nothing it
 * merely reused.
 * Returns the services it stopped.
 *
 * @example const stopped = await stackDown(stackOptions()); // ['kafka'] or []
 */
export async function stackDown(options: StackOptions): Promise<ServiceName[]> {
  return withStackLock(options.cacheDir, async () => {
    const state = await readState(options.cacheDir);
    const stopped: ServiceName[] = [];
    const failures: { service: ServiceName; message: string }[] = [];
    for (const service of ['ha', 'kafka', 'redis', 'postgres', 'timescaledb'] as const) {
      if (!state[service]) continue;
      options.log(`stopping ${service}`);
      try {
        await stopService(options, service);
        stopped.push(service);
      } catch (error) {
        // Keep going: one stuck service must not keep the others running.
        failures.push({ service, message: error instanceof Error ? error.message : String(error) });
      }
    }
    const [first] = failures;
    if (first) {
      throw new StackError(
        first.service,
        `could not stop: ${failures.map(({ service, message }) => `${service}: ${message}`).join('; ')}`,
      );
    }
    return stopped;
  });
}
