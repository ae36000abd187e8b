import type { AdminPort } from '@backbone/kafka';
import { oldestUnsentOutboxEvent, streamLag } from '@backbone/stream';
import type pg from 'pg';
import {
  combine,
  formatAge,
  formatCount,
  notOk,
  ok,
  type CheckOutcome,
  type Evidence,
  type Finding,
} from '../check.ts';
import type { CheckDefinition } from '../run-check.ts';
import { grade, type ReadinessRules } from '../rules.ts';
import { probeStalledPartitions } from './stalled.ts';

/** A topic the system needs, with the partitions and replication it was provisioned with. */
export interface ExpectedTopic {
  name: string;
  partitions: number;
  replicationFactor: number;
}

/** A consumer group whose lag is watched. */
export interface WatchedGroup {
  groupId: string;
  topics: string[];
}

export interface KafkaProbeInput {
  /** Creates an admin client; called again after a failed connect. */
  createAdmin: () => AdminPort;
  rules: ReadinessRules;
  topics: readonly ExpectedTopic[];
  groups: readonly WatchedGroup[];
  /** Dead-letter topic whose recent volume is watched. */
  deadLetterTopic: string;
  /** The database holding `backbone.consumer_offsets` (the sinks' truth) and `backbone.outbox`. */
  pool: pg.Pool;
  now?: () => Date;
}

/** Kafka checks plus the admin client they share; `close()` releases it. */
export interface KafkaChecks {
  checks: CheckDefinition[];
  close(): Promise<void>;
}

/**
 * Kafka checks: cluster and brokers, expected topics and partitions with their replicas, consumer
 * lag per partition, stalled partitions, dead letters within a window, the outbox relay lag and
 * the outbox events set aside dead.
 *
 * @example const kafka = kafkaChecks({ createAdmin: () => client.admin(), rules, topics, groups, deadLetterTopic: TOPICS.marketBarsDlq, pool });
 */
export function kafkaChecks(input: KafkaProbeInput): KafkaChecks {
  const now = input.now ?? (() => new Date());
  let admin: AdminPort | undefined;
  let connecting: Promise<AdminPort> | undefined;
  const connected = (): Promise<AdminPort> => {
    connecting ??= (async () => {
      const candidate = input.createAdmin();
      admin = candidate;
      try {
        await candidate.connect();
        return candidate;
      } catch (error) {
        // A failed connect is retried on the next round with a fresh client.
        connecting = undefined;
        admin = undefined;
        await candidate.close().catch(() => undefined);
        throw error;
      }
    })();
    return connecting;
  };
  // Calls still running after their probe timed out: close() waits for them, since a call that
  // retries after the admin closed opens a connection again and keeps the process alive.
  const inFlight = new Set<Promise<unknown>>();
  const withAdmin = <T>(use: (admin: AdminPort) => Promise<T>): Promise<T> => {
    const call = connected().then(use);
    inFlight.add(call);
    void call.finally(() => inFlight.delete(call)).catch(() => undefined);
    return call;
  };
  const checks: CheckDefinition[] = [
    { name: 'kafka.cluster', component: 'kafka', run: () => withAdmin(probeCluster) },
    {
      name: 'kafka.topics',
      component: 'kafka',
      run: () => withAdmin((admin) => probeTopics(admin, input.topics)),
    },
    {
      name: 'kafka.consumer-lag',
      component: 'kafka',
      run: () => withAdmin((admin) => probeLag(admin, input.pool, input.groups, input.rules)),
    },
    {
      name: 'kafka.stalled-partitions',
      component: 'kafka',
      run: () =>
        withAdmin((admin) => probeStalledPartitions(admin, input.pool, input.groups, input.rules, now())),
    },
    {
      name: 'kafka.dead-letters',
      component: 'kafka',
      run: () =>
        withAdmin((admin) => probeDeadLetters(admin, input.deadLetterTopic, input.rules.deadLetters, now())),
    },
    {
      name: 'kafka.outbox-relay',
      component: 'kafka',
      run: () => probeOutbox(input.pool, input.rules, now()),
    },
    {
      name: 'kafka.outbox-dead-events',
      component: 'kafka',
      run: () => probeDeadOutboxEvents(input.pool),
    },
  ];
  return {
    checks,
    async close() {
      const current = admin;
      admin = undefined;
      connecting = undefined;
      // A connect or call still in flight (its probe timed out) would open a connection after a
      // close issued now, keeping the process alive: close once every one has settled (each
      // connect runs inside a tracked call). A failed connect has closed its own client already.
      await Promise.allSettled([...inFlight]);
      await current?.close();
    },
  };
}

async function probeCluster(admin: AdminPort): Promise<CheckOutcome> {
  const cluster = await admin.describeCluster();
  const evidence = {
    clusterId: cluster.clusterId,
    controller: cluster.controller,
    brokerCount: cluster.brokers.length,
    brokers: cluster.brokers.map((broker) => broker.nodeId),
  };
  if (cluster.brokers.length === 0) {
    return notOk(
      'fail',
      'kafka_no_brokers',
      `Kafka cluster ${cluster.clusterId} reports no live brokers.`,
      evidence,
    );
  }
  if (cluster.controller === null) {
    return notOk(
      'warn',
      'kafka_no_controller',
      `Kafka cluster ${cluster.clusterId} has no active controller; partition leadership cannot change until one is elected.`,
      evidence,
    );
  }
  return ok(evidence);
}

async function probeTopics(admin: AdminPort, expected: readonly ExpectedTopic[]): Promise<CheckOutcome> {
  const existing = new Set(await admin.listTopics());
  const missing = expected.filter((topic) => !existing.has(topic.name));
  const present = expected.filter((topic) => existing.has(topic.name));
  const metadata =
    present.length === 0 ? [] : await admin.fetchTopicMetadata(present.map((topic) => topic.name));
  const findings: Finding[] = missing.map((topic) => ({
    status: 'fail',
    reason: 'topic_missing',
    message: `Kafka topic ${topic.name} does not exist; run ./backbone topics ensure.`,
  }));
  const topics: Evidence[] = [];
  for (const topic of metadata) {
    const want = expected.find((candidate) => candidate.name === topic.name);
    const offline = topic.partitions
      .filter((p) => p.leader < 0 || p.offlineReplicas.length > 0)
      .map((p) => p.partition);
    const underReplicated = topic.partitions
      .filter((p) => p.isr.length < p.replicas.length)
      .map((p) => p.partition);
    topics.push({
      topic: topic.name,
      partitions: topic.partitions.length,
      expectedPartitions: want?.partitions ?? null,
      offlinePartitions: offline,
      underReplicatedPartitions: underReplicated,
    });
    if (want !== undefined && topic.partitions.length < want.partitions) {
      findings.push({
        status: 'fail',
        reason: 'topic_partitions_missing',
        message: `Kafka topic ${topic.name} has ${topic.partitions.length} partitions, the config expects ${want.partitions}; run ./backbone topics ensure.`,
      });
    }
    if (offline.length > 0) {
      findings.push({
        status: 'fail',
        reason: 'partitions_offline',
        message: `Kafka topic ${topic.name} has offline partitions ${offline.join(', ')} (no leader or offline replicas); bring the brokers holding them back.`,
      });
    }
    if (underReplicated.length > 0) {
      findings.push({
        status: 'warn',
        reason: 'partitions_under_replicated',
        message: `Kafka topic ${topic.name} has under-replicated partitions ${underReplicated.join(', ')}; a broker is lagging or down.`,
      });
    }
  }
  return combine(findings, { missingTopics: missing.map((topic) => topic.name), topics });
}

async function probeLag(
  admin: AdminPort,
  pool: pg.Pool,
  groups: readonly WatchedGroup[],
  rules: ReadinessRules,
): Promise<CheckOutcome> {
  const findings: Finding[] = [];
  const partitions: Evidence[] = [];
  let totalLag = 0n;
  for (const group of groups) {
    // The sinks store their next offsets with the data, in the database: that is the truth.
    for (const lag of await streamLag({ admin, pool, groupId: group.groupId, topics: group.topics })) {
      totalLag += lag.lag;
      const value = Number(lag.lag);
      partitions.push({
        group: lag.groupId,
        topic: lag.topic,
        partition: lag.partition,
        lag: value,
        logEndOffset: Number(lag.logEndOffset),
        nextOffset: lag.nextOffset === null ? null : Number(lag.nextOffset),
        source: lag.source,
      });
      const status = grade(value, rules.lag);
      if (status !== 'ok') {
        findings.push({
          status,
          reason: 'consumer_lag',
          message: `Consumer group ${lag.groupId} lags ${formatCount(lag.lag)} messages on ${lag.topic}[${lag.partition}], above the ${status} threshold ${formatCount(rules.lag[status])}; check that the group's worker is running and keeping up.`,
        });
      }
    }
  }
  return combine(findings, { totalLag: Number(totalLag), partitions });
}

/**
 * Dead letters appended within the window, counted from the offsets themselves (the first record
 * at or after `now - window` up to the log end), so a one-shot `./backbone report` sees them as
 * well as the long-running reporter.
 */
async function probeDeadLetters(
  admin: AdminPort,
  topic: string,
  rule: ReadinessRules['deadLetters'],
  now: Date,
): Promise<CheckOutcome> {
  const windowStart = new Date(now.getTime() - rule.windowSeconds * 1000);
  // The window's start first: a record appended between the two calls then counts, never negatively.
  const fromWindow = await admin.fetchTopicOffsetsAt(topic, windowStart);
  const ends = await admin.fetchTopicOffsets(topic);
  const windowStarts = new Map(fromWindow.map((entry) => [entry.partition, entry.offset]));
  let inWindow = 0n;
  let total = 0n;
  for (const { partition, low, high } of ends) {
    total += high - low;
    const start = windowStarts.get(partition) ?? high;
    if (high > start) inWindow += high - start;
  }
  const evidence = {
    topic,
    windowSeconds: rule.windowSeconds,
    inWindow: Number(inWindow),
    warnCount: rule.warnCount,
    retainedRecords: Number(total),
  };
  if (inWindow < BigInt(rule.warnCount)) return ok(evidence);
  return notOk(
    'warn',
    'dead_letters_in_window',
    `Dead-letter topic ${topic} received ${formatCount(inWindow)} records in the last ${formatAge(rule.windowSeconds)} (warn at ${formatCount(rule.warnCount)}; ${formatCount(total)} retained); inspect the reason headers of the newest records.`,
    evidence,
  );
}

async function probeOutbox(pool: pg.Pool, rules: ReadinessRules, now: Date): Promise<CheckOutcome> {
  // Dead events (refused by Kafka for good) are not waiting to be sent: kafka.outbox-dead-events
  // reports them. The oldest waiting event's topic tells the operator where to look.
  const [oldest, counted] = await Promise.all([
    oldestUnsentOutboxEvent(pool),
    pool.query<{ pending: string }>(
      `SELECT count(*)::text AS pending FROM backbone.outbox WHERE published_at IS NULL AND dead_at IS NULL`,
    ),
  ]);
  const pending = Number(counted.rows[0]?.pending ?? 0);
  const ageSeconds =
    oldest === undefined ? 0 : Math.max(0, (now.getTime() - oldest.createdAt.getTime()) / 1000);
  const evidence = {
    unpublished: pending,
    oldestUnpublished: oldest?.createdAt.toISOString() ?? null,
    oldestUnpublishedTopic: oldest?.topic ?? null,
    relayLagSeconds: Math.round(ageSeconds),
  };
  const status = grade(ageSeconds, rules.outboxAgeSeconds);
  if (status === 'ok' || oldest === undefined) return ok(evidence);
  return notOk(
    status,
    'outbox_relay_lagging',
    `The outbox holds ${formatCount(pending)} unsent events, the oldest (topic ${oldest.topic}) written ${oldest.createdAt.toISOString()}, ${formatAge(ageSeconds)} ago (${status} threshold ${formatAge(rules.outboxAgeSeconds[status])}); check the stream-bridge's outbox relay, Kafka and that topic.`,
    evidence,
  );
}

async function probeDeadOutboxEvents(pool: pg.Pool): Promise<CheckOutcome> {
  const result = await pool.query<{ topic: string; dead: string; oldest: Date; last_reason: string }>(
    `SELECT topic, count(*)::text AS dead, min(dead_at) AS oldest,
            (array_agg(dead_reason ORDER BY dead_at DESC))[1] AS last_reason
     FROM backbone.outbox WHERE dead_at IS NOT NULL GROUP BY topic ORDER BY topic`,
  );
  const topics = result.rows.map((row) => ({
    topic: row.topic,
    dead: Number(row.dead),
    since: row.oldest.toISOString(),
    lastReason: row.last_reason,
  }));
  const total = topics.reduce((sum, entry) => sum + entry.dead, 0);
  const evidence = { dead: total, topics };
  if (total === 0) return ok(evidence);
  const described = topics.map(
    (entry) => `${entry.topic} (${formatCount(entry.dead)} since ${entry.since}: ${entry.lastReason})`,
  );
  return notOk(
    'warn',
    'outbox_events_dead',
    `${formatCount(total)} outbox events were refused by Kafka for good and set aside (dead) on ${described.join('; ')}; they were not published. See docs/operations.md (dead outbox events).`,
    evidence,
  );
}
