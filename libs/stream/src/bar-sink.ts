import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { metrics, type Counter } from '@opentelemetry/api';
import type { BarRuleOptions } from '@backbone/contracts';
import {
  classifyDatabaseError,
  insertOutboxEvent,
  mergeBarsIsolating,
  recordRejectedRecords,
  sqlState,
  withTransaction,
  type MergeCounts,
  type RefusedBar,
} from '@backbone/db';
import {
  type AdminPort,
  type AssignmentDecision,
  type ConsumedBatch,
  type ConsumedMessage,
  type ConsumerPort,
  type KafkaClient,
  partitionKey,
  type PartitionOffsets,
  type ProducerPort,
  type TopicPartition,
  type TopicPartitionOffset,
  type TopicPartitions,
} from '@backbone/kafka';
import { DEFAULT_BACKOFF, restartDelayMs, type BackoffPolicy } from '@backbone/supervisor';
import { currentTraceContext, runInSpan, startKafkaConsumerSpan, type Logger } from '@backbone/telemetry';
import type { Pool, PoolClient } from 'pg';
import {
  deadLetterFor,
  deadLetterSends,
  planBatch,
  type BatchPlan,
  type PlannedRejection,
} from './batch-plan.ts';
import { DatabaseRejectedError, StreamOptionsError } from './errors.ts';
import { ingestEventFor } from './ingest-event.ts';
import {
  describeOffsetGap,
  findOffsetGap,
  recordOffsetGap,
  resolvedGapIds,
  resolveOffsetGapInLog,
  type FoundOffsetGap,
  type OffsetGap,
  type OffsetOutOfRangePolicy,
} from './offset-gaps.ts';
import { lockNextOffset, readStoredOffsets, storeNextOffset } from './offset-store.ts';

/** A slice about to be applied. */
export interface SliceStart {
  readonly topic: string;
  readonly partition: number;
  readonly firstOffset: bigint;
  readonly lastOffset: bigint;
}

/** Where a slice stands after its transaction committed. */
export interface SliceCommit {
  readonly topic: string;
  readonly partition: number;
  /** The next offset now stored in the database. */
  readonly nextOffset: bigint;
  /** Records of the slice skipped by the offset fence (applied before, by anyone). */
  readonly fenced: number;
  readonly records: number;
}

/**
 * Fault-injection points for crash and zombie tests (a hook that does not resolve holds the sink
 * exactly there while the test kills or races the process). Production leaves them unset.
 */
export interface SinkFaultHooks {
  /** Before a slice's transaction begins (the records are fetched, nothing is locked). */
  beforeSlice?(slice: SliceStart): Promise<void> | void;
  /** After the database COMMIT of a slice, before its offset is resolved or committed to Kafka. */
  afterDatabaseCommit?(commit: SliceCommit): Promise<void> | void;
}

/** Options of {@link BarSink}. */
export interface BarSinkOptions {
  readonly kafka: KafkaClient;
  readonly pool: Pool;
  readonly logger: Logger;
  /** Consumer group; also the `group_id` of its rows in `backbone.consumer_offsets`. */
  readonly groupId: string;
  /** The bar topic (`market.bars.v1`); injectable so tests use their own. */
  readonly topic: string;
  /** Where rejected records go (`market.bars.v1.dlq`). */
  readonly deadLetterTopic: string;
  /** Topic of the ingest-run events written to the outbox (`backbone.ingest-events.v1`). */
  readonly ingestEventsTopic: string;
  /** Records per database transaction at most (`kafka.consumer.maxBatchRecords`). */
  readonly maxBatchRecords: number;
  /** Bytes fetched per partition per request at most (`kafka.consumer.maxBatchBytes`). */
  readonly maxBatchBytes: number;
  /** Larger records are dead-lettered as `message_too_large` (`kafka.maxMessageBytes`). */
  readonly maxMessageBytes: number;
  /**
   * The dead-letter topic's `max.message.bytes` (a record batch at most): envelopes are truncated
   * and sends split to stay under it. Default: 1 MiB, under the broker's default
   * `message.max.bytes` (1 MiB + 12 bytes).
   */
  readonly deadLetterMaxBytes?: number;
  /** Partitions whose batches are processed at once (each holds one pooled connection). */
  readonly concurrency?: number;
  /** A member silent this long leaves the group, so a killed process's partitions move on. */
  readonly sessionTimeoutMs?: number;
  /** How long stop() waits for the batch in flight before cutting the DLQ producer under it. */
  readonly stopGraceMs?: number;
  /** Bar rule clock and future skew; the contracts' defaults when absent. */
  readonly rules?: BarRuleOptions;
  /** Backoff between attempts of a slice while the database (or the DLQ) fails. */
  readonly retryBackoff?: Partial<BackoffPolicy>;
  readonly faults?: SinkFaultHooks;
  readonly now?: () => Date;
  /**
   * A stored offset outside its partition's log (`kafka.consumer.offsetOutOfRange`, default
   * `fail`): `fail` holds the partition until an operator resolves the gap, `earliest` /
   * `latest` resolve it at once. See docs/kafka.md.
   */
  readonly offsetOutOfRange?: OffsetOutOfRangePolicy;
  /** How often a held partition looks for its gap's resolution (default 5 s). */
  readonly gapPollIntervalMs?: number;
}

/** A partition this sink does not read until its offset gap is resolved. */
export interface HeldOffsetGap {
  readonly id: number;
  readonly topic: string;
  readonly partition: number;
  readonly kind: OffsetGap['kind'];
  /** The stored next offset (as a string: it is int64) and the log it is outside of. */
  readonly storedOffset: string;
  readonly logStart: string;
  readonly logEnd: string;
  readonly detectedAt: string;
  /** One sentence naming topic, partition and range, for readiness. */
  readonly message: string;
}

/** The smallest DLQ record limit that still fits every envelope without a payload. */
const MIN_DEAD_LETTER_BYTES = 16_384;
const DEFAULT_DEAD_LETTER_MAX_BYTES = 1_048_576;

/** Counters since start, for health details and tests. */
export interface BarSinkStats {
  /** Slices committed to the database. */
  committedSlices: number;
  /** Records read and decided (stored, superseded or dead-lettered), fenced ones excluded. */
  records: number;
  inserted: number;
  updated: number;
  unchanged: number;
  superseded: number;
  deadLettered: number;
  /** Records skipped because the stored offset was already past them. */
  fenced: number;
  /** Failed attempts of a slice (database or DLQ unavailable). */
  failedAttempts: number;
  /** Group joins that assigned partitions to this member. */
  assignments: number;
  /** Partitions currently paused for backpressure. */
  paused: TopicPartitions[];
  /** The last failure of an attempt (message only), cleared by the next success. */
  lastError: string | null;
  /** Since when attempts have failed without a success in between (null while writes succeed). */
  failingSince: Date | null;
  /** Partitions held for an unresolved offset gap (policy `fail`). */
  offsetGaps: HeldOffsetGap[];
}

/**
 * Exactly-once sink from a bar topic to `market_data.bars`. Per slice of a fetched batch, one
 * transaction: lock the partition's offset row, skip records below it, dead-letter the invalid
 * records (produced before COMMIT), merge the valid ones, advance the offset, add an ingest-run
 * event to the outbox. Only then is the offset resolved and committed to Kafka. See
 * docs/stream-bridge.md for the argument.
 *
 * @example
 * const sink = new BarSink({ kafka, pool, logger, groupId: 'stream-bridge', topic: TOPICS.marketBars, ... });
 * await sink.start();
 * // later
 * await sink.stop();
 */
export class BarSink {
  readonly #options: BarSinkOptions;
  readonly #consumer: ConsumerPort;
  readonly #producer: ProducerPort;
  readonly #log: Logger;
  readonly #stopping = new AbortController();
  readonly #crashed = Promise.withResolvers<never>();
  readonly #backoff: BackoffPolicy;
  readonly #now: () => Date;
  readonly #records: Counter;
  readonly #deadLetterMaxBytes: number;
  readonly #admin: AdminPort;
  readonly #gapsFound: Counter;
  /** Held partitions by `topic\u0000partition`; rebuilt on every assignment. */
  readonly #held = new Map<string, HeldOffsetGap>();
  /** Per partition, the next offset this member expects to read (to notice a reset jumping ahead). */
  readonly #readFrom = new Map<string, bigint>();
  #gapPoll: NodeJS.Timeout | undefined;
  readonly #stats: Omit<BarSinkStats, 'paused' | 'offsetGaps'> = {
    committedSlices: 0,
    records: 0,
    inserted: 0,
    updated: 0,
    unchanged: 0,
    superseded: 0,
    deadLettered: 0,
    fenced: 0,
    failedAttempts: 0,
    assignments: 0,
    lastError: null,
    failingSince: null,
  };
  #stopped: Promise<void> | undefined;

  constructor(options: BarSinkOptions) {
    for (const name of ['maxBatchRecords', 'maxBatchBytes', 'maxMessageBytes'] as const) {
      if (!(Number.isInteger(options[name]) && options[name] > 0)) {
        throw new StreamOptionsError(name, `must be a positive integer, got ${options[name]}`);
      }
    }
    this.#deadLetterMaxBytes = options.deadLetterMaxBytes ?? DEFAULT_DEAD_LETTER_MAX_BYTES;
    // Room for an envelope without its payload (coordinates, reason, a message of up to 4 KiB).
    if (!(Number.isInteger(this.#deadLetterMaxBytes) && this.#deadLetterMaxBytes >= MIN_DEAD_LETTER_BYTES)) {
      throw new StreamOptionsError(
        'deadLetterMaxBytes',
        `must be an integer of at least ${MIN_DEAD_LETTER_BYTES}, got ${this.#deadLetterMaxBytes}`,
      );
    }
    this.#options = options;
    this.#log = options.logger.child({
      component: 'bar-sink',
      topic: options.topic,
      groupId: options.groupId,
    });
    this.#backoff = { ...DEFAULT_BACKOFF, initialMs: 200, maxMs: 10_000, ...options.retryBackoff };
    this.#now = options.now ?? (() => new Date());
    const concurrency = options.concurrency ?? 1;
    this.#consumer = options.kafka.consumer({
      groupId: options.groupId,
      // One fetch per partition is one batch: this bounds a batch's memory.
      maxBytesPerPartition: options.maxBatchBytes,
      maxBytes: options.maxBatchBytes * concurrency,
      ...(options.sessionTimeoutMs === undefined ? {} : { sessionTimeoutMs: options.sessionTimeoutMs }),
    });
    this.#producer = options.kafka.producer();
    // Log start and end per partition, to find stored offsets outside the log.
    this.#admin = options.kafka.admin();
    this.#gapsFound = metrics.getMeter('@backbone/stream').createCounter('backbone.stream.offset_gaps', {
      description:
        'Stored offsets found outside their partition log (topic recreated or truncated, retention passed them), by kind.',
    });
    this.#records = metrics.getMeter('@backbone/stream').createCounter('backbone.stream.records', {
      description: 'Records decided by the stream sink, by outcome.',
    });
    // A crash before anyone awaits `crashed` must not become an unhandled rejection.
    this.#crashed.promise.catch(() => undefined);
  }

  /** Rejects when the consumer stops for good on its own (the supervisor then restarts the sink). */
  get crashed(): Promise<never> {
    return this.#crashed.promise;
  }

  /** Connects, joins the group and starts consuming; resolves once the consumer loop runs. */
  async start(): Promise<void> {
    await this.#admin.connect();
    await this.#producer.connect();
    await this.#consumer.connect();
    // A new group reads from the beginning; a partition with a stored offset is sought there.
    await this.#consumer.subscribe([this.#options.topic], { fromBeginning: true });
    await this.#consumer.run({
      partitionsConsumedConcurrently: this.#options.concurrency ?? 1,
      onPartitionsAssigned: (assigned) => this.#onAssigned(assigned),
      eachBatch: (batch) => this.#onBatch(batch),
      onCrash: (error) => {
        this.#log.error({ err: error }, 'consumer stopped for good');
        this.#crashed.reject(error);
      },
    });
    this.#log.info('bar sink started');
  }

  /**
   * Stops consuming: an attempt waiting out a backoff is abandoned (its slice stays uncommitted),
   * an attempt in its transaction finishes (committed) first. Idempotent.
   */
  stop(): Promise<void> {
    this.#stopped ??= (async () => {
      this.#stopping.abort();
      clearTimeout(this.#gapPoll);
      // close() waits for the batch in flight. One stuck in a DLQ send (Kafka away, the
      // idempotent producer retries forever) is released by closing the producer under it:
      // its transaction rolls back and the slice stays uncommitted, to be read again.
      const consumerClosed = this.#consumer.close();
      const graceMs = this.#options.stopGraceMs ?? 5_000;
      const inTime = await Promise.race([
        consumerClosed.then(
          () => true,
          () => true,
        ),
        sleep(graceMs, false, { ref: false }),
      ]);
      if (!inTime)
        this.#log.warn({ graceMs }, 'batch in flight did not finish; closing the producer under it');
      const results = await Promise.allSettled([this.#producer.close(), consumerClosed, this.#admin.close()]);
      const failed = results.find((result) => result.status === 'rejected');
      if (failed !== undefined) throw failed.reason;
      this.#log.info(this.stats(), 'bar sink stopped');
    })();
    return this.#stopped;
  }

  stats(): BarSinkStats {
    return { ...this.#stats, paused: this.#consumer.paused(), offsetGaps: [...this.#held.values()] };
  }

  async #onAssigned(assigned: readonly TopicPartitions[]): Promise<AssignmentDecision> {
    this.#stats.assignments += 1;
    // Each join replaces the whole assignment: holds of the previous one are found again below.
    this.#held.clear();
    this.#readFrom.clear();
    // The database is the truth: every assigned partition resumes at its stored next offset.
    // A partition without a row has had nothing applied, whatever Kafka's group offset says
    // (e.g. a restored or new database): it is read from the start. Offset 0 below the log
    // start is out of range, which the consumer resets to the earliest retained record.
    const stored = await readStoredOffsets(this.#options.pool, this.#options.groupId, assigned);
    const known = new Set(stored.map(({ topic, partition }) => partitionKey(topic, partition)));
    const { positions: checked, hold } = await this.#checkStoredOffsets(stored);
    const positions = [
      ...checked,
      ...assigned.flatMap(({ topic, partitions }) =>
        partitions
          .filter((partition) => !known.has(partitionKey(topic, partition)))
          .map((partition) => ({ topic, partition, offset: 0n })),
      ),
    ];
    this.#log.info(
      { assigned, positions: positions.map((p) => ({ ...p, offset: p.offset.toString() })), held: hold },
      'partitions assigned; seeking to the stored offsets',
    );
    for (const position of positions) {
      this.#readFrom.set(partitionKey(position.topic, position.partition), position.offset);
    }
    return { positions, hold };
  }

  /**
   * Stored offsets against the logs as they are now. One outside its log is a gap: the client
   * would reset to an end of the log and the fence would discard, or the reset would jump over,
   * records never applied. Each gap is recorded and counted, then held (policy `fail`) or
   * resolved by the policy (its new position returned).
   */
  async #checkStoredOffsets(
    stored: readonly TopicPartitionOffset[],
  ): Promise<{ positions: TopicPartitionOffset[]; hold: TopicPartition[] }> {
    const logs = new Map<string, PartitionOffsets[]>();
    for (const topic of new Set(stored.map((position) => position.topic))) {
      logs.set(topic, await this.#admin.fetchTopicOffsets(topic));
    }
    const positions: TopicPartitionOffset[] = [];
    const hold: TopicPartition[] = [];
    for (const position of stored) {
      const { topic, partition } = position;
      const log = logs.get(topic)?.find((entry) => entry.partition === partition);
      const kind = log === undefined ? undefined : findOffsetGap(position.offset, log);
      if (log === undefined || kind === undefined) {
        positions.push(position);
        continue;
      }
      const gap: FoundOffsetGap = {
        groupId: this.#options.groupId,
        topic,
        partition,
        kind,
        storedOffset: position.offset,
        logStart: log.low,
        logEnd: log.high,
      };
      const resumeAt = await this.#onOffsetGap(gap, log, 'assignment');
      if (resumeAt === undefined) hold.push({ topic, partition });
      else positions.push({ topic, partition, offset: resumeAt });
    }
    return { positions, hold };
  }

  /** Records a gap and applies the policy: the offset to read on from, or undefined when held. */
  async #onOffsetGap(
    found: FoundOffsetGap,
    log: PartitionOffsets,
    foundOn: 'assignment' | 'fetch',
  ): Promise<bigint | undefined> {
    const { pool, groupId } = this.#options;
    const policy = this.#options.offsetOutOfRange ?? 'fail';
    const { gap, recorded } = await recordOffsetGap(pool, found);
    if (recorded) {
      this.#gapsFound.add(1, { topic: found.topic, partition: String(found.partition), kind: found.kind });
    }
    const message = describeOffsetGap(found);
    const context = {
      gapId: gap.id,
      partition: found.partition,
      kind: found.kind,
      storedOffset: found.storedOffset.toString(),
      logStart: log.low.toString(),
      logEnd: log.high.toString(),
      policy,
      foundOn,
    };
    if (policy === 'fail') {
      this.#held.set(partitionKey(found.topic, found.partition), {
        id: gap.id,
        topic: found.topic,
        partition: found.partition,
        kind: found.kind,
        storedOffset: found.storedOffset.toString(),
        logStart: log.low.toString(),
        logEnd: log.high.toString(),
        detectedAt: gap.detectedAt.toISOString(),
        message,
      });
      this.#log.error(
        context,
        `offset gap: ${message}; the partition is held until an operator resolves it: ./backbone offsets resolve --group ${groupId} --topic ${found.topic} --partition ${found.partition} --to earliest|latest|<offset>`,
      );
      this.#scheduleGapPoll();
      return undefined;
    }
    const resolved = await resolveOffsetGapInLog(
      pool,
      { groupId, topic: found.topic, partition: found.partition, to: policy, resolvedBy: `policy:${policy}` },
      log,
    );
    this.#log.error(
      { ...context, resolvedOffset: resolved.resolvedOffset?.toString() },
      `offset gap: ${message}; resolved by kafka.consumer.offsetOutOfRange=${policy}: reading on at offset ${resolved.resolvedOffset}`,
    );
    return resolved.resolvedOffset ?? undefined;
  }

  /** While partitions are held, looks for their gaps' resolutions now and then. */
  #scheduleGapPoll(): void {
    if (this.#gapPoll !== undefined || this.#stopping.signal.aborted) return;
    this.#gapPoll = setTimeout(() => {
      void this.#pollHeldGaps().finally(() => {
        this.#gapPoll = undefined;
        if (this.#held.size > 0) this.#scheduleGapPoll();
      });
    }, this.#options.gapPollIntervalMs ?? 5_000);
    this.#gapPoll.unref();
  }

  /** A resolved gap's partition is sought to the rewritten stored offset and resumed. */
  async #pollHeldGaps(): Promise<void> {
    try {
      const held = [...this.#held.values()];
      const resolved = await resolvedGapIds(
        this.#options.pool,
        held.map((gap) => gap.id),
      );
      for (const gap of held.filter((candidate) => resolved.has(candidate.id))) {
        const partitions = [{ topic: gap.topic, partitions: [gap.partition] }];
        const [position] = await readStoredOffsets(this.#options.pool, this.#options.groupId, partitions);
        const key = partitionKey(gap.topic, gap.partition);
        // A rebalance in between rebuilt the holds; the new assignment sought the partition itself.
        if (this.#held.get(key) !== gap || this.#stopping.signal.aborted) continue;
        this.#held.delete(key);
        if (position !== undefined) {
          this.#readFrom.set(key, position.offset);
          this.#consumer.seek(position);
        }
        this.#consumer.resume(partitions);
        this.#log.info(
          { gapId: gap.id, partition: gap.partition, offset: position?.offset.toString() },
          'offset gap resolved; partition resumed at the stored offset',
        );
      }
    } catch (error) {
      this.#log.warn({ err: error }, 'offset gap resolutions not read; trying again');
    }
  }

  async #onBatch(batch: ConsumedBatch): Promise<void> {
    const { maxBatchRecords } = this.#options;
    if (await this.#jumpedOverRecords(batch)) return;
    for (let start = 0; start < batch.messages.length; start += maxBatchRecords) {
      const slice = batch.messages.slice(start, start + maxBatchRecords);
      const nextOffset = await this.#applyUntilCommitted(batch, slice);
      if (nextOffset === undefined) return; // abandoned: stopping or the batch went stale
      this.#readFrom.set(partitionKey(batch.topic, batch.partition), nextOffset);
      const last = slice.at(-1);
      if (last !== undefined) batch.resolveOffset(last.offset);
      if (nextOffset > (last?.offset ?? -1n) + 1n) {
        // The stored offset past the log end: the client reset to the start of a new log (the
        // topic was recreated while running). Seeking there again would loop, fencing forever.
        if (nextOffset > batch.highWatermark && (await this.#gapWhileRunning(batch))) return;
        // The database is ahead of this fetch (a late seek): jump there instead of reading
        // records that would only be fenced.
        this.#consumer.seek({ topic: batch.topic, partition: batch.partition, offset: nextOffset });
        return;
      }
      await this.#commitToKafka(batch.topic, batch.partition, nextOffset);
      await this.#heartbeat(batch);
    }
  }

  /**
   * True when the batch starts past where this partition was read up to and a gap was found
   * there (the client reset over records retention deleted): the batch is not applied.
   */
  async #jumpedOverRecords(batch: ConsumedBatch): Promise<boolean> {
    const first = batch.messages[0];
    const readFrom = this.#readFrom.get(partitionKey(batch.topic, batch.partition));
    // Offsets also skip legitimately (compaction, transaction markers): only a gap in the log counts.
    if (first === undefined || readFrom === undefined || first.offset <= readFrom) return false;
    return this.#gapWhileRunning(batch);
  }

  /**
   * Compares the stored offset with the partition's log while consuming: true when it is a gap,
   * which is then recorded and held (the partition paused) or resolved by the policy (sought).
   */
  async #gapWhileRunning(batch: ConsumedBatch): Promise<boolean> {
    const { topic, partition } = batch;
    const partitions = [{ topic, partitions: [partition] }];
    const [stored] = await readStoredOffsets(this.#options.pool, this.#options.groupId, partitions);
    if (stored === undefined) return false;
    const log = (await this.#admin.fetchTopicOffsets(topic)).find((entry) => entry.partition === partition);
    const kind = log === undefined ? undefined : findOffsetGap(stored.offset, log);
    if (log === undefined || kind === undefined) return false;
    const resumeAt = await this.#onOffsetGap(
      {
        groupId: this.#options.groupId,
        topic,
        partition,
        kind,
        storedOffset: stored.offset,
        logStart: log.low,
        logEnd: log.high,
      },
      log,
      'fetch',
    );
    if (resumeAt === undefined) {
      this.#consumer.pause(partitions);
    } else {
      this.#readFrom.set(partitionKey(topic, partition), resumeAt);
      this.#consumer.seek({ topic, partition, offset: resumeAt });
    }
    return true;
  }

  /**
   * Applies one slice, retrying with backoff while it fails; the partition is paused meanwhile
   * and resumed on success. Returns the stored next offset, or undefined when the slice was
   * abandoned uncommitted (stopping, or a rebalance made the batch stale).
   */
  async #applyUntilCommitted(
    batch: ConsumedBatch,
    slice: readonly ConsumedMessage[],
  ): Promise<bigint | undefined> {
    const partition = [{ topic: batch.topic, partitions: [batch.partition] }];
    // Dead letters already produced by a failed attempt are not produced again by the next one.
    const deadLettered = new Set<bigint>();
    let paused = false;
    for (let attempt = 1; ; attempt += 1) {
      if (this.#stopping.signal.aborted || !batch.isRunning() || batch.isStale()) return undefined;
      try {
        const nextOffset = await this.#applySlice(batch, slice, deadLettered);
        this.#stats.lastError = null;
        this.#stats.failingSince = null;
        if (paused) {
          this.#consumer.resume(partition);
          this.#log.info(
            { partition: batch.partition, attempt },
            'database answers again; partition resumed',
          );
        }
        return nextOffset;
      } catch (error) {
        this.#stats.failedAttempts += 1;
        this.#stats.lastError = error instanceof Error ? error.message : String(error);
        this.#stats.failingSince ??= this.#now();
        if (!paused) {
          // Backpressure: no further fetches for this partition until the slice is committed.
          this.#consumer.pause(partition);
          paused = true;
        }
        const delayMs = restartDelayMs(attempt, this.#backoff, Math.random);
        // Bars the database refuses never get here (they are isolated); what does is retried:
        // `transient` heals by itself, `permanent` needs an operator (the retries keep it visible).
        const code = sqlState(error);
        this.#log.warn(
          {
            err: error,
            partition: batch.partition,
            attempt,
            delayMs,
            ...(code === undefined ? {} : { sqlState: code, kind: classifyDatabaseError(error) }),
          },
          'slice not committed; partition paused, retrying',
        );
        try {
          await sleep(delayMs, undefined, { signal: this.#stopping.signal });
        } catch {
          return undefined; // stopping
        }
        await this.#heartbeat(batch);
      }
    }
  }

  /** One attempt: one transaction. Returns the next offset stored. */
  async #applySlice(
    batch: ConsumedBatch,
    slice: readonly ConsumedMessage[],
    deadLettered: Set<bigint>,
  ): Promise<bigint> {
    const { topic, partition } = batch;
    const first = slice[0];
    const span = startKafkaConsumerSpan({
      topic,
      partition,
      groupId: this.#options.groupId,
      message: {
        key: first?.key ?? null,
        offset: String(first?.offset ?? 0n),
        headers: first?.headers ?? {},
      },
      attributes: { 'messaging.batch.message_count': slice.length },
    });
    await this.#options.faults?.beforeSlice?.({
      topic,
      partition,
      firstOffset: first?.offset ?? 0n,
      lastOffset: slice.at(-1)?.offset ?? 0n,
    });
    const startedAt = performance.now();
    const timings = { lockMs: 0, planMs: 0, deadLetterMs: 0, mergeMs: 0 };
    const lap = (since: number): number => Math.round(performance.now() - since);
    const outcome = await runInSpan(span, () =>
      withTransaction(this.#options.pool, async (client) => {
        let phase = performance.now();
        const fromOffset = await lockNextOffset(client, this.#options.groupId, topic, partition);
        timings.lockMs = lap(phase);
        phase = performance.now();
        const plan = planBatch(slice, {
          fromOffset,
          maxMessageBytes: this.#options.maxMessageBytes,
          rules: this.#options.rules,
        });
        timings.planMs = lap(phase);
        if (plan.fenced === slice.length) return { plan, counts: undefined, nextOffset: fromOffset };
        phase = performance.now();
        const runId = randomUUID();
        // A bar the database refuses is isolated (bisection under savepoints) and dead-lettered;
        // the others commit. Only a failure no bar is at fault for fails the attempt.
        const merged = await mergeBarsIsolating(
          client,
          plan.bars.map(({ bar }) => bar),
          { runId },
        );
        timings.mergeMs = lap(phase);
        const applied = this.#withRefused(plan, merged.refused);
        const counts = merged.counts;
        phase = performance.now();
        // Dead letters go out BEFORE the commit that moves the offset past them: a crash in
        // between re-sends them (at-least-once DLQ), never loses them.
        await this.#deadLetter(client, applied.rejected, deadLettered);
        timings.deadLetterMs = lap(phase);
        const nextOffset = plan.lastOffset + 1n;
        await storeNextOffset(client, this.#options.groupId, topic, partition, nextOffset);
        const event = ingestEventFor(applied, counts, {
          runId,
          producedAt: this.#now(),
          traceContext: currentTraceContext(),
        });
        await insertOutboxEvent(client, {
          topic: this.#options.ingestEventsTopic,
          key: event.runId,
          payload: event,
          // The relay publishes the row's headers: they carry the trace on to the cache-warmer.
          headers: { ...event.traceContext },
        });
        return { plan: applied, counts, nextOffset };
      }),
    );
    this.#count(outcome.plan, outcome.counts);
    this.#log.debug(
      {
        partition,
        records: slice.length,
        fenced: outcome.plan.fenced,
        deadLettered: outcome.plan.rejected.length,
        ...timings,
        totalMs: lap(startedAt),
      },
      'slice committed',
    );
    await this.#options.faults?.afterDatabaseCommit?.({
      topic,
      partition,
      nextOffset: outcome.nextOffset,
      fenced: outcome.plan.fenced,
      records: slice.length,
    });
    return outcome.nextOffset;
  }

  /** The plan after the database's verdict: the bars it refused move to the rejected records. */
  #withRefused(plan: BatchPlan, refused: readonly RefusedBar[]): BatchPlan {
    if (refused.length === 0) return plan;
    const refusedIndexes = new Set(refused.map(({ index }) => index));
    const rejections = refused.map(({ index, error }): PlannedRejection => {
      const planned = plan.bars[index];
      if (planned === undefined) throw new RangeError(`refused bar ${index} is not in the slice`);
      this.#log.warn(
        { partition: planned.message.partition, offset: planned.offset.toString(), err: error },
        'the database refused a bar; dead-lettering it, the rest of the slice commits',
      );
      return { message: planned.message, rejection: new DatabaseRejectedError(error, sqlState(error)) };
    });
    return {
      ...plan,
      bars: plan.bars.filter((_, index) => !refusedIndexes.has(index)),
      rejected: [...plan.rejected, ...rejections].sort((a, b) =>
        a.message.offset < b.message.offset ? -1 : a.message.offset > b.message.offset ? 1 : 0,
      ),
    };
  }

  /**
   * Sends the dead letters not sent by an earlier attempt, in batches under the DLQ topic's
   * limit, and stores the whole bytes of every truncated one in `backbone.rejected_records` (in
   * every attempt: a failed attempt's rows rolled back with it).
   */
  async #deadLetter(
    client: PoolClient,
    rejected: readonly PlannedRejection[],
    deadLettered: Set<bigint>,
  ): Promise<void> {
    if (rejected.length === 0) return;
    const seenAt = this.#now();
    const letters = rejected.map((rejection) => deadLetterFor(rejection, seenAt, this.#deadLetterMaxBytes));
    await recordRejectedRecords(
      client,
      letters.flatMap(({ wholeRecord }) => (wholeRecord === undefined ? [] : [wholeRecord])),
    );
    const unsent = letters.filter(({ offset }) => !deadLettered.has(offset));
    for (const send of deadLetterSends(unsent, this.#deadLetterMaxBytes)) {
      await this.#producer.send(
        this.#options.deadLetterTopic,
        send.map(({ record }) => record),
      );
      for (const { offset } of send) deadLettered.add(offset);
    }
  }

  #count(plan: BatchPlan, counts: MergeCounts | undefined): void {
    const stats = this.#stats;
    stats.fenced += plan.fenced;
    if (counts === undefined) return;
    stats.committedSlices += 1;
    stats.inserted += counts.inserted;
    stats.updated += counts.updated;
    stats.unchanged += counts.unchanged;
    stats.superseded += plan.superseded;
    stats.deadLettered += plan.rejected.length;
    stats.records += plan.bars.length + plan.superseded + plan.rejected.length;
    const attributes = { topic: this.#options.topic };
    this.#records.add(counts.inserted, { ...attributes, outcome: 'inserted' });
    this.#records.add(counts.updated, { ...attributes, outcome: 'updated' });
    this.#records.add(counts.unchanged, { ...attributes, outcome: 'unchanged' });
    this.#records.add(plan.superseded, { ...attributes, outcome: 'superseded' });
    this.#records.add(plan.rejected.length, { ...attributes, outcome: 'dead_lettered' });
  }

  /** Kafka's copy of the offset is for lag tools only; the database already holds the truth. */
  async #commitToKafka(topic: string, partition: number, offset: bigint): Promise<void> {
    try {
      await this.#consumer.commitOffsets([{ topic, partition, offset }]);
    } catch (error) {
      this.#log.warn({ err: error, partition, offset: offset.toString() }, 'offset commit to Kafka failed');
    }
  }

  /** A failed heartbeat means a rebalance; the batch then reports stale and is left alone. */
  async #heartbeat(batch: ConsumedBatch): Promise<void> {
    try {
      await batch.heartbeat();
    } catch (error) {
      this.#log.debug({ err: error, partition: batch.partition }, 'heartbeat failed');
    }
  }
}
