import { redactText } from '@backbone/config';
import { ServiceStartError, StackError } from './errors.ts';
import { ensureHaCluster, haClusterStatus, stopHaCluster, type HaMemberStatus } from './ha/ha-cluster.ts';
import { ensureKafka, probeKafka, stopKafka } from './kafka.ts';
import { stackEndpoints, type StackOptions } from './options.ts';
import { ensurePostgres, probePostgres, stopPostgres } from './postgres.ts';
import { ensureRedis, probeRedis, stopRedis } from './redis.ts';
import { readState, updateState, withStackLock, type StackState } from './state.ts';

export type ServiceName = 'postgres' | 'redis' | 'kafka' | 'ha';

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
 * Probes the three services in parallel, and the HA cluster when `options.ha.enabled` or a
 * previous `up --ha` recorded it.
 *
 * @example const down = (await stackStatus(stackOptions())).filter((s) => s.state === 'down');
 */
export async function stackStatus(options: StackOptions): Promise<ServiceStatus[]> {
  const endpoints = stackEndpoints(options);
  const [state, postgres, redis, kafka] = await Promise.all([
    readState(options.cacheDir),
    probePostgres(options.postgres),
    probeRedis(options.redis),
    probeKafka(options.kafka),
  ]);
  const managedBy = (service: ServiceName): ServiceStatus['managedBy'] =>
    state[service] ? 'backbone' : 'external';
  const ha =
    options.ha.enabled || state.ha
      ? [{ service: 'ha' as const, managedBy: managedBy('ha'), ...(await haClusterStatus(options.ha)) }]
      : [];
  return [
    {
      service: 'postgres',
      endpoint: redactText(endpoints.databaseUrl),
      state: postgres.state,
      version: postgres.state === 'up' ? postgres.version : undefined,
      managedBy: managedBy('postgres'),
      error: postgres.state === 'down' ? redactText(postgres.error.message) : undefined,
      warnings:
        postgres.state === 'up' && !postgres.databaseExists
          ? [`database ${options.postgres.database} does not exist; \`./backbone stack up\` creates it`]
          : [],
    },
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
 * Brings PostgreSQL, Redis and Kafka up (and the HA cluster with `options.ha.enabled`), reusing
 * what already answers and starting the rest.
 * Idempotent. When a step fails, stops what this call started before rethrowing, so a failed
 * `up` leaves nothing half-started.
 *
 * @example const statuses = await stackUp(stackOptions({ log: console.log }));
 */
export async function stackUp(options: StackOptions): Promise<ServiceStatus[]> {
  await withStackLock(options.cacheDir, async () => {
    const startedNow: ServiceName[] = [];
    let current: ServiceName = 'postgres';
    try {
      const postgres = await ensurePostgres(options.postgres, options.log);
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
  if (service === 'postgres' && state.postgres) await stopPostgres(state.postgres);
  if (service === 'redis' && state.redis) await stopRedis(state.redis);
  if (service === 'kafka' && state.kafka) await stopKafka(state.kafka);
  await updateState(options.cacheDir, (next) => {
    next[service] = undefined;
  });
}

/**
 * Stops what `stackUp` started (the HA cluster and Kafka first, PostgreSQL last), and nothing it merely reused.
 * Returns the services it stopped.
 *
 * @example const stopped = await stackDown(stackOptions()); // ['kafka'] or []
 */
export async function stackDown(options: StackOptions): Promise<ServiceName[]> {
  return withStackLock(options.cacheDir, async () => {
    const state = await readState(options.cacheDir);
    const stopped: ServiceName[] = [];
    const failures: string[] = [];
    for (const service of ['ha', 'kafka', 'redis', 'postgres'] as const) {
      if (!state[service]) continue;
      options.log(`stopping ${service}`);
      try {
        await stopService(options, service);
        stopped.push(service);
      } catch (error) {
        // Keep going: one stuck service must not keep the others running.
        failures.push(`${service}: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
    if (failures.length > 0) {
      throw new StackError(
        (['postgres', 'redis', 'ha'] as const).find((service) => failures[0]?.startsWith(service)) ?? 'kafka',
        `could not stop: ${failures.join('; ')}`,
      );
    }
    return stopped;
  });
}
