import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { haOptions, type HaOptions, type HaOptionsInput } from './ha/ha-options.ts';

/** Where PostgreSQL answers. No password by default: the local stack uses trust auth on 127.0.0.1. */
export interface PostgresEndpoint {
  host: string;
  port: number;
  user: string;
  password?: string | undefined;
  /** Created by `up` when missing; validated as an SQL identifier. */
  database: string;
}

/** Where Redis answers. */
export interface RedisEndpoint {
  host: string;
  port: number;
}

/** Where the Kafka broker (PLAINTEXT) and its KRaft controller listen. */
export interface KafkaEndpoint {
  host: string;
  port: number;
  controllerPort: number;
}

/** Everything the stack functions need; build one with {@link stackOptions}. */
export interface StackOptions {
  /** The repository root: tools/kafka/ lives there. */
  rootDir: string;
  /** Generated files, data, logs and pids (git-ignored). Default `<rootDir>/.cache`. */
  cacheDir: string;
  /** The Kafka jars, shared between the main and private brokers. Default `<cacheDir>/kafka/libs`. */
  kafkaLibsDir: string;
  /**
   * The stack's own TimescaleDB cluster: the default `database.url`. When nothing answers there
   * (and the host is this machine), `up` runs a cluster of its own under
   * `<cacheDir>/timescaledb/<port>/` (docs/stack.md).
   */
  postgres: PostgresEndpoint;
  /**
   * The machine's plain PostgreSQL (no TimescaleDB preloaded): the target of the
   * plain-PostgreSQL storage-mode tests. `up` reuses it or starts Debian's cluster for its port.
   */
  plainPostgres: PostgresEndpoint;
  /**
   * The TimescaleDB release tarball `up` builds when the extension is not installed and no
   * package provides it; `<stem>-*.patch` files next to it are applied. Default
   * `<rootDir>/../shared/vendor/timescaledb-2.28.3.tar.gz`; `stack up --timescaledb-source`.
   */
  timescaledbSource: string;
  redis: RedisEndpoint;
  kafka: KafkaEndpoint;
  /** The PostgreSQL HA cluster (`up --ha`): Patroni, etcd, HAProxy (docs/stack.md). */
  ha: HaOptions;
  /** Programs, overridable so a test can point at a missing one. */
  commands: { java: string; mvn: string; redisServer: string; cmake: string };
  /** Broker JVM heap (`-Xmx`). */
  kafkaHeap: string;
  /**
   * `maxmemory` of a redis-server `up` starts (`512mb`, `2gb`): with `noeviction`, a full Redis
   * refuses writes with an error instead of growing until the host's OOM killer takes it and
   * BullMQ's jobs with it (docs/stack.md).
   */
  redisMaxmemory: string;
  /** How long `up` waits for a started service to answer. */
  startTimeoutMs: number;
  /** Progress lines ("starting Kafka …"); the CLI prints them, tests may collect them. */
  log: (message: string) => void;
}

export interface StackOptionsInput {
  rootDir?: string;
  cacheDir?: string;
  kafkaLibsDir?: string;
  postgres?: Partial<PostgresEndpoint>;
  plainPostgres?: Partial<PostgresEndpoint>;
  timescaledbSource?: string;
  redis?: Partial<RedisEndpoint>;
  kafka?: Partial<KafkaEndpoint>;
  ha?: HaOptionsInput;
  commands?: Partial<StackOptions['commands']>;
  kafkaHeap?: string;
  redisMaxmemory?: string;
  startTimeoutMs?: number;
  log?: (message: string) => void;
}

/** libs/stack/src → the repository root. */
const defaultRootDir = fileURLToPath(new URL('../../..', import.meta.url));

/**
 * The stack's settings: the defaults of architecture.md, with any field overridden.
 *
 * @example const options = stackOptions({ kafka: { port: 19092, controllerPort: 19093 }, cacheDir: tmp });
 */
export function stackOptions(input: StackOptionsInput = {}): StackOptions {
  const rootDir = input.rootDir ?? defaultRootDir;
  const cacheDir = input.cacheDir ?? join(rootDir, '.cache');
  return {
    rootDir,
    cacheDir,
    kafkaLibsDir: input.kafkaLibsDir ?? join(cacheDir, 'kafka', 'libs'),
    postgres: { host: '127.0.0.1', port: 5433, user: 'postgres', database: 'backbone', ...input.postgres },
    plainPostgres: {
      host: '127.0.0.1',
      port: 5432,
      user: 'postgres',
      database: 'backbone',
      ...input.plainPostgres,
    },
    timescaledbSource: resolve(
      input.timescaledbSource ?? join(rootDir, '..', 'shared', 'vendor', 'timescaledb-2.28.3.tar.gz'),
    ),
    redis: { host: '127.0.0.1', port: 6379, ...input.redis },
    kafka: { host: '127.0.0.1', port: 9092, controllerPort: 9093, ...input.kafka },
    ha: haOptions(input.ha ?? {}, cacheDir),
    commands: { java: 'java', mvn: 'mvn', redisServer: 'redis-server', cmake: 'cmake', ...input.commands },
    kafkaHeap: input.kafkaHeap ?? '512m',
    redisMaxmemory: input.redisMaxmemory ?? '1gb',
    startTimeoutMs: input.startTimeoutMs ?? 90_000,
    log: input.log ?? (() => undefined),
  };
}

/** The URLs and broker list clients use, derived from the endpoints. */
export interface StackEndpoints {
  /** The stack's TimescaleDB cluster. */
  databaseUrl: string;
  /** The machine's plain PostgreSQL, for the plain-PostgreSQL storage-mode tests. */
  plainDatabaseUrl: string;
  redisUrl: string;
  kafkaBrokers: string[];
}

/**
 * Client-facing endpoints of a stack.
 *
 * @example new pg.Client(stackEndpoints(stackOptions()).databaseUrl)
 */
export function stackEndpoints(
  options: Pick<StackOptions, 'postgres' | 'plainPostgres' | 'redis' | 'kafka'>,
): StackEndpoints {
  const { postgres, plainPostgres, redis, kafka } = options;
  return {
    databaseUrl: postgresUrl(postgres),
    plainDatabaseUrl: postgresUrl(plainPostgres),
    redisUrl: `redis://${redis.host}:${redis.port}`,
    kafkaBrokers: [`${kafka.host}:${kafka.port}`],
  };
}

function postgresUrl(endpoint: PostgresEndpoint): string {
  const credentials = endpoint.password
    ? `${encodeURIComponent(endpoint.user)}:${encodeURIComponent(endpoint.password)}`
    : encodeURIComponent(endpoint.user);
  return `postgres://${credentials}@${endpoint.host}:${endpoint.port}/${endpoint.database}`;
}

/** True when `host` is this machine, i.e. a service there is one `up` may start. */
export function isLocalHost(host: string): boolean {
  return host === '127.0.0.1' || host === 'localhost' || host === '::1';
}
