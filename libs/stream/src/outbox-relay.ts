import { setTimeout as sleep } from 'node:timers/promises';
import { metrics, type Counter, type ObservableGauge } from '@opentelemetry/api';
import { OUTBOX_CHANNEL, withTransaction } from '@backbone/db';
import { KafkaClientError, type KafkaClient, type ProducerPort, type TopicMessages } from '@backbone/kafka';
import { DEFAULT_BACKOFF, restartDelayMs, type BackoffPolicy } from '@backbone/supervisor';
import type { Logger } from '@backbone/telemetry';
import pg from 'pg';
import { StreamOptionsError } from './errors.ts';

/** Header carrying the outbox row id, so consumers can recognise a re-published event. */
export const OUTBOX_ID_HEADER = 'x-outbox-id';

/** Options of {@link OutboxRelay}. */
export interface OutboxRelayOptions {
  readonly kafka: KafkaClient;
  readonly pool: pg.Pool;
  /** Connection settings of the dedicated LISTEN connection (the pool's URL). */
  readonly listenConnection: pg.ClientConfig;
  readonly logger: Logger;
  /** Rows claimed and published per transaction. */
  readonly batchSize?: number;
  /** Safety poll: a lost notification (LISTEN connection down) delays an event by at most this. */
  readonly pollIntervalMs?: number;
  /** Backoff while Kafka or the database fails. */
  readonly retryBackoff?: Partial<BackoffPolicy>;
  /** How long stop() waits for the round in flight before closing the producer under it. */
  readonly stopGraceMs?: number;
}

/** Counters since start. */
export interface OutboxRelayStats {
  published: number;
  /** Events Kafka refused for good, marked dead and skipped (see {@link OutboxRelay}). */
  dead: number;
  /** Drain rounds that failed (Kafka or the database away); their rows wait. */
  failedRounds: number;
  notifications: number;
  listening: boolean;
  lastError: string | null;
}

interface OutboxRow {
  id: string;
  topic: string;
  key: string | null;
  payload: unknown;
  headers: Record<string, string>;
}

/** An event Kafka refused for good. */
interface DeadEvent {
  id: string;
  topic: string;
  reason: string;
}

/** What one drain round did with the rows it claimed. */
interface RoundOutcome {
  claimed: number;
  published: string[];
  dead: DeadEvent[];
  /** A failure that stopped the round part-way; the rows from there on wait for the next round. */
  failure: Error | undefined;
}

/**
 * Publishes `backbone.outbox` rows to their topics and marks them published. Rows are claimed
 * with `FOR UPDATE SKIP LOCKED` inside the transaction that marks them, so concurrent relays
 * never publish the same row at the same time; the transaction commits only after Kafka
 * acknowledged (idempotent producer, acks=all), so Kafka down means rows wait, and a crash after
 * the acknowledgement but before the commit publishes them again (at-least-once; the key and the
 * `x-outbox-id` header identify a repeat). Woken by LISTEN/NOTIFY, with a slow safety poll.
 *
 * An event Kafka refuses for good ({@link KafkaClientError.refusesRecords}: too large for the
 * topic, an invalid record, a topic this client may not write to) would otherwise fail its batch
 * forever and hold up every event behind it. When a batch is refused, the relay sends its rows
 * one by one, in order, on a fresh producer: rows Kafka takes are published, a refused row is
 * marked dead (`dead_at`, `dead_reason`), counted (`backbone.outbox.dead_events`) and logged, and
 * the rows behind it flow. Any other failure (Kafka away, a topic not created yet) stops the
 * round where it happened; the rows from there on wait and are retried, in order.
 *
 * @example
 * const relay = new OutboxRelay({ kafka, pool, listenConnection: { connectionString: url }, logger });
 * await relay.start(); … await relay.stop();
 */
export class OutboxRelay {
  readonly #options: OutboxRelayOptions;
  readonly #log: Logger;
  /** Replaced after a refused batch (see #narrow); stop() closes the current one. */
  #producer: ProducerPort;
  /** False from a producer's replacement until its connect succeeded; the next round retries it. */
  #producerConnected = false;
  readonly #deadEvents: Counter;
  readonly #backoff: BackoffPolicy;
  readonly #batchSize: number;
  readonly #pollIntervalMs: number;
  readonly #stopGraceMs: number;
  readonly #stopping = new AbortController();
  readonly #stats: OutboxRelayStats = {
    published: 0,
    dead: 0,
    failedRounds: 0,
    notifications: 0,
    listening: false,
    lastError: null,
  };
  #wake: (() => void) | undefined;
  #pendingWake = false;
  #listener: pg.Client | undefined;
  #loop: Promise<void> | undefined;
  #stopped: Promise<void> | undefined;

  constructor(options: OutboxRelayOptions) {
    this.#options = options;
    this.#batchSize = options.batchSize ?? 500;
    this.#pollIntervalMs = options.pollIntervalMs ?? 5_000;
    this.#stopGraceMs = options.stopGraceMs ?? 5_000;
    if (!(Number.isInteger(this.#batchSize) && this.#batchSize > 0)) {
      throw new StreamOptionsError('batchSize', `must be a positive integer, got ${this.#batchSize}`);
    }
    this.#log = options.logger.child({ component: 'outbox-relay' });
    this.#backoff = { ...DEFAULT_BACKOFF, initialMs: 200, maxMs: 10_000, ...options.retryBackoff };
    this.#producer = options.kafka.producer();
    this.#deadEvents = metrics.getMeter('@backbone/stream').createCounter('backbone.outbox.dead_events', {
      description: 'Outbox events Kafka refused for good, marked dead and skipped by the relay.',
    });
  }

  /** Connects the producer and the LISTEN connection, then drains and keeps draining. */
  async start(): Promise<void> {
    await this.#producer.connect();
    this.#producerConnected = true;
    await this.#listen();
    this.#loop = this.#run();
  }

  /** Stops after the round in flight (its transaction commits or rolls back). Idempotent. */
  stop(): Promise<void> {
    this.#stopped ??= (async () => {
      this.#stopping.abort();
      this.#wake?.();
      // A round stuck in a send (Kafka away: the idempotent producer retries forever) is
      // released by closing the producer under it; its transaction rolls back, the rows wait.
      const finished = await Promise.race([
        this.#loop?.then(() => true),
        sleep(this.#stopGraceMs, false, { ref: false }),
      ]);
      if (finished !== true) this.#log.warn('round in flight did not finish; closing the producer under it');
      await Promise.allSettled([this.#producer.close(), this.#listener?.end()]);
      await this.#loop;
      // The round may have replaced the producer after the close above.
      await this.#producer.close().catch(() => undefined);
      this.#log.info(this.stats(), 'outbox relay stopped');
    })();
    return this.#stopped;
  }

  stats(): OutboxRelayStats {
    return { ...this.#stats };
  }

  /**
   * Age in seconds of the oldest unpublished row (0 when none): how far the relay is behind.
   *
   * @example const age = await relay.oldestUnpublishedAgeSeconds();
   */
  async oldestUnpublishedAgeSeconds(): Promise<number> {
    return oldestUnpublishedAgeSeconds(this.#options.pool);
  }

  /**
   * Registers the gauge `backbone.outbox.oldest_unpublished_age` (seconds), observed from the
   * database at each collection.
   */
  registerMetrics(): ObservableGauge {
    const gauge = metrics
      .getMeter('@backbone/stream')
      .createObservableGauge('backbone.outbox.oldest_unpublished_age', {
        description: 'Age of the oldest unpublished backbone.outbox row.',
        unit: 's',
      });
    gauge.addCallback(async (result) => {
      try {
        result.observe(await this.oldestUnpublishedAgeSeconds());
      } catch (error) {
        this.#log.debug({ err: error }, 'outbox age not observed');
      }
    });
    return gauge;
  }

  async #run(): Promise<void> {
    let failures = 0;
    while (!this.#stopping.signal.aborted) {
      let drained = false;
      try {
        drained = await this.#drainOnce();
        failures = 0;
        this.#stats.lastError = null;
      } catch (error) {
        failures += 1;
        this.#stats.failedRounds += 1;
        this.#stats.lastError = error instanceof Error ? error.message : String(error);
        const delayMs = restartDelayMs(failures, this.#backoff, Math.random);
        this.#log.warn({ err: error, delayMs }, 'outbox rows not published; they wait for the next round');
        await this.#pause(delayMs);
        continue;
      }
      if (!drained) continue; // a full batch: more rows are probably waiting
      if (!this.#stats.listening) await this.#listen().catch(() => undefined);
      await this.#waitForWork();
    }
  }

  /** Publishes one claimed batch. Returns true when fewer than a full batch were waiting. */
  async #drainOnce(): Promise<boolean> {
    if (!this.#producerConnected) {
      await this.#producer.connect();
      this.#producerConnected = true;
    }
    const round = await withTransaction(this.#options.pool, async (client): Promise<RoundOutcome> => {
      // `ORDER BY outbox.id`: the bigint column. A bare `id` would name the text output column
      // and order '10' before '9'.
      const claimed = await client.query<OutboxRow>(
        `SELECT id::text AS id, topic, key, payload, headers FROM backbone.outbox
         WHERE published_at IS NULL AND dead_at IS NULL
         ORDER BY outbox.id LIMIT $1 FOR UPDATE SKIP LOCKED`,
        [this.#batchSize],
      );
      const rows = claimed.rows;
      if (rows.length === 0) return { claimed: 0, published: [], dead: [], failure: undefined };
      let outcome: RoundOutcome;
      try {
        await this.#producer.sendBatch(toTopicMessages(rows));
        outcome = {
          claimed: rows.length,
          published: rows.map((row) => row.id),
          dead: [],
          failure: undefined,
        };
      } catch (error) {
        if (!refusesRecords(error)) throw error;
        outcome = await this.#narrow(rows, error);
      }
      await client.query(`UPDATE backbone.outbox SET published_at = now() WHERE id = ANY($1::bigint[])`, [
        outcome.published,
      ]);
      if (outcome.dead.length > 0) {
        await client.query(
          `UPDATE backbone.outbox o SET dead_at = now(), dead_reason = d.reason
           FROM unnest($1::bigint[], $2::text[]) AS d(id, reason) WHERE o.id = d.id`,
          [outcome.dead.map((event) => event.id), outcome.dead.map((event) => event.reason)],
        );
      }
      return outcome;
    });
    this.#stats.published += round.published.length;
    for (const event of round.dead) {
      this.#stats.dead += 1;
      this.#deadEvents.add(1, { topic: event.topic });
      this.#log.error(
        { outboxId: event.id, topic: event.topic, reason: event.reason },
        'Kafka refused an outbox event for good; marked it dead, the events behind it flow',
      );
    }
    if (round.failure !== undefined) throw round.failure;
    return round.claimed < this.#batchSize;
  }

  /**
   * Sends a refused batch's rows one at a time, in order, to find the ones Kafka refuses. Each
   * refusal (the batch's and every row's) is followed by a fresh producer: kafkajs rewinds the
   * idempotent sequence numbers of every partition in a failed request, including partitions the
   * broker did append, so the old producer's next send there could be refused as out of order;
   * and a producer keeps a refused topic among the topics whose metadata it refreshes before each
   * send, so one refused topic could fail the sends to every other. (Rows of partitions the
   * refused request did append are sent again: a repeat, as after a crash, with its `x-outbox-id`.)
   */
  async #narrow(rows: readonly OutboxRow[], refusal: KafkaClientError): Promise<RoundOutcome> {
    this.#log.warn(
      { err: refusal, rows: rows.length },
      'Kafka refused an outbox batch; sending its rows one by one',
    );
    const outcome: RoundOutcome = { claimed: rows.length, published: [], dead: [], failure: undefined };
    try {
      await this.#replaceProducer();
      for (const row of rows) {
        try {
          await this.#producer.sendBatch(toTopicMessages([row]));
          outcome.published.push(row.id);
        } catch (error) {
          if (!refusesRecords(error)) throw error;
          outcome.dead.push({ id: row.id, topic: row.topic, reason: error.message });
          await this.#replaceProducer();
        }
      }
    } catch (error) {
      outcome.failure = error instanceof Error ? error : new Error(String(error));
    }
    return outcome;
  }

  /** Closes the producer and connects a new one; a failed connect is retried by the next round. */
  async #replaceProducer(): Promise<void> {
    const previous = this.#producer;
    this.#producer = this.#options.kafka.producer();
    this.#producerConnected = false;
    await previous.close().catch(() => undefined);
    await this.#producer.connect();
    this.#producerConnected = true;
  }

  /** Resolves on a notification, on the safety poll, or on stop. */
  async #waitForWork(): Promise<void> {
    if (this.#pendingWake) {
      this.#pendingWake = false;
      return;
    }
    const { promise, resolve } = Promise.withResolvers<undefined>();
    this.#wake = () => {
      resolve(undefined);
    };
    const timer = setTimeout(this.#wake, this.#pollIntervalMs);
    await promise;
    clearTimeout(timer);
    this.#wake = undefined;
    this.#pendingWake = false;
  }

  async #pause(delayMs: number): Promise<void> {
    try {
      await sleep(delayMs, undefined, { signal: this.#stopping.signal });
    } catch {
      // stopping
    }
  }

  /** A dedicated connection (not pooled): LISTEN belongs to a session. */
  async #listen(): Promise<void> {
    const listener = new pg.Client({ connectionTimeoutMillis: 5_000, ...this.#options.listenConnection });
    listener.on('notification', () => {
      this.#stats.notifications += 1;
      this.#pendingWake = true;
      this.#wake?.();
    });
    listener.on('error', (error) => {
      // The safety poll keeps rows moving; the next idle round reconnects.
      this.#stats.listening = false;
      this.#log.warn({ err: error }, 'outbox LISTEN connection lost');
    });
    listener.on('end', () => {
      this.#stats.listening = false;
    });
    try {
      await listener.connect();
      await listener.query(`LISTEN ${OUTBOX_CHANNEL}`);
    } catch (error) {
      await listener.end().catch(() => undefined);
      throw error;
    }
    const previous = this.#listener;
    this.#listener = listener;
    this.#stats.listening = true;
    await previous?.end().catch(() => undefined);
  }
}

function refusesRecords(error: unknown): error is KafkaClientError {
  return error instanceof KafkaClientError && error.refusesRecords;
}

/** Consecutive rows of one topic become one batch, so the claimed order is the send order. */
function toTopicMessages(rows: readonly OutboxRow[]): TopicMessages[] {
  const batches: { topic: string; messages: TopicMessages['messages'][number][] }[] = [];
  for (const row of rows) {
    let batch = batches.at(-1);
    if (batch?.topic !== row.topic) {
      batch = { topic: row.topic, messages: [] };
      batches.push(batch);
    }
    batch.messages.push({
      key: row.key,
      value: JSON.stringify(row.payload),
      headers: { ...row.headers, [OUTBOX_ID_HEADER]: row.id },
    });
  }
  return batches;
}

/**
 * Age in seconds of the oldest unpublished `backbone.outbox` row; 0 when every row is published.
 * Dead rows (refused by Kafka for good) are not waiting to be sent, so they do not count.
 *
 * @example await oldestUnpublishedAgeSeconds(pool) // 0
 */
export async function oldestUnpublishedAgeSeconds(db: pg.Pool | pg.ClientBase): Promise<number> {
  return (await oldestUnsentOutboxEvent(db))?.ageSeconds ?? 0;
}

/** The oldest outbox event still to be sent: what, where and since when the relay is behind. */
export interface UnsentOutboxEvent {
  id: string;
  topic: string;
  createdAt: Date;
  ageSeconds: number;
}

/**
 * The oldest `backbone.outbox` event neither published nor dead; `undefined` when none waits.
 *
 * @example const oldest = await oldestUnsentOutboxEvent(pool); // { id: '42', topic: 'backbone.ingest-events.v1', … }
 */
export async function oldestUnsentOutboxEvent(
  db: pg.Pool | pg.ClientBase,
): Promise<UnsentOutboxEvent | undefined> {
  const result = await db.query<{ id: string; topic: string; created_at: Date; age: number }>(
    `SELECT id::text AS id, topic, created_at, extract(epoch FROM now() - created_at)::float8 AS age
     FROM backbone.outbox WHERE published_at IS NULL AND dead_at IS NULL
     ORDER BY created_at, outbox.id LIMIT 1`,
  );
  const row = result.rows[0];
  if (row === undefined) return undefined;
  return { id: row.id, topic: row.topic, createdAt: row.created_at, ageSeconds: Math.max(0, row.age) };
}
