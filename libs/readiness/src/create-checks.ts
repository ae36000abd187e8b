import {
  streamBridgeGroupId,
  TOPIC_NAMES,
  topicName,
  WORKER_NAMES,
  type SystemConfig,
} from '@backbone/config';
import { QUEUES } from '@backbone/contracts';
import type { KafkaClient } from '@backbone/kafka';
import type { Redis } from 'ioredis';
import type pg from 'pg';
import { bullmqChecks, bullmqPrefix, type WatchedQueue } from './probes/bullmq.ts';
import { kafkaChecks, type ExpectedTopic, type WatchedGroup } from './probes/kafka.ts';
import { offsetGapsCheck } from './probes/offset-gaps.ts';
import { redisChecks } from './probes/redis.ts';
import { replicationCheck } from './probes/replication.ts';
import { retentionChecks } from './probes/retention.ts';
import { expectationsFromConfig, timescaleChecks } from './probes/timescaledb.ts';
import { workerRole, workersCheck } from './probes/workers.ts';
import type { CheckDefinition } from './run-check.ts';
import { rulesFromConfig, type ReadinessRules } from './rules.ts';

/** The clients the probes use; the caller owns and closes them. */
export interface ProbeClients {
  pool: pg.Pool;
  redis: Redis;
  kafka: KafkaClient;
}

export interface ReadinessChecksOptions {
  /** Consumer groups whose lag is watched (default: `stream-bridge` on `market.bars.v1`). */
  consumerGroups?: WatchedGroup[];
  /** BullMQ key prefix (default `bullmqPrefix(config.redis.keyNamespace)`). */
  bullmqPrefix?: string;
  now?: () => Date;
}

/** Every check of the system, the rules they apply, and `close()` for the handles they opened. */
export interface ReadinessChecks {
  checks: CheckDefinition[];
  rules: ReadinessRules;
  close(): Promise<void>;
}

/**
 * Builds every live check from the configuration: TimescaleDB (with the HA cluster's
 * replication when `database.ha.patroniUrls` is set), freshness, retention, Redis,
 * cache, Kafka, BullMQ and the workers' heartbeats.
 *
 * @example const { checks, rules, close } = createReadinessChecks(config, { pool, redis, kafka });
 */
export function createReadinessChecks(
  config: SystemConfig,
  clients: ProbeClients,
  options: ReadinessChecksOptions = {},
): ReadinessChecks {
  const rules = rulesFromConfig(config);
  const now = options.now ?? (() => new Date());
  const topics: ExpectedTopic[] = TOPIC_NAMES.map((name) => ({
    name: topicName(config.kafka, name),
    partitions: config.kafka.topics[name].partitions,
    replicationFactor: config.kafka.topics[name].replicationFactor,
  }));
  const queues: WatchedQueue[] = [
    {
      name: QUEUES.ingest,
      expectedSchedulers: config.ingest.plans.map((plan) => plan.name),
      schedulerOwner: 'timescale-ingestor',
    },
    {
      name: QUEUES.cacheWarm,
      schedulerOwner: 'cache-warmer',
      // The cache-warmer keeps one re-warm scheduler (apps/cache-warmer REWARM_SCHEDULER_ID).
      expectedSchedulers: config.readiness.expectedWorkers.includes('cacheWarmer') ? ['cache-warm-all'] : [],
    },
  ];
  const kafka = kafkaChecks({
    createAdmin: () => clients.kafka.admin(),
    rules,
    topics,
    groups: options.consumerGroups ?? [
      { groupId: streamBridgeGroupId(config.kafka), topics: [topicName(config.kafka, 'market.bars.v1')] },
    ],
    deadLetterTopic: topicName(config.kafka, 'market.bars.v1.dlq'),
    pool: clients.pool,
    now,
  });
  const bullmq = bullmqChecks({
    redis: clients.redis,
    prefix: options.bullmqPrefix ?? bullmqPrefix(config.redis.keyNamespace),
    queues,
    rules,
    now,
  });
  const expectedWorkers = config.readiness.expectedWorkers
    .filter((name) => (WORKER_NAMES as readonly string[]).includes(name))
    .map(workerRole);
  const checks = [
    ...timescaleChecks({ pool: clients.pool, rules, expectations: expectationsFromConfig(config), now }),
    // Only with an HA cluster configured (database.ha.patroniUrls).
    ...(config.database.ha.patroniUrls.length > 0
      ? [
          replicationCheck({
            patroniUrls: config.database.ha.patroniUrls,
            databaseUrl: config.database.url,
            rules,
          }),
        ]
      : []),
    ...retentionChecks({ pool: clients.pool, storage: config.storage, now }),
    ...redisChecks({ redis: clients.redis, keyNamespace: config.redis.keyNamespace, rules }),
    ...kafka.checks,
    offsetGapsCheck({ pool: clients.pool }),
    ...bullmq.checks,
    workersCheck({ redis: clients.redis, keyNamespace: config.redis.keyNamespace, expectedWorkers, now }),
  ];
  return {
    checks,
    rules,
    async close() {
      await Promise.allSettled([kafka.close(), bullmq.close()]);
    },
  };
}
