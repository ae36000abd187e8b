import { setTimeout as sleep } from 'node:timers/promises';
import { metrics, type ObservableGauge } from '@opentelemetry/api';
import { OUTBOX_CHANNEL, withTransaction } from '@backbone/db';
import type { KafkaClient, ProducerPort, TopicMessages } from '@backbone/kafka';
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

/**
 * Publishes `backbone.outbox` rows to their topics and marks them published. Rows are claimed
 * with `FOR UPDATE SKIP LOCKED` inside the transaction that marks them, so concurrent relays
 * never publish the same row at the same time; the transaction commits only after Kafka
 * acknowledged (idempotent producer, acks=all), so Kafka down means rows wait, and a crash after
 * the acknowledgement but before the commit publishes them again (at-least-once; the key and the
 * `x-outbox-id` header identify a repeat). Woken by LISTEN/NOTIFY, with a slow safety poll.
 *
 * @example
 * const relay = new OutboxRelay({ kafka, pool, listenConnection: { connectionString: url }, logger });
 * await relay.start(); … await relay.stop();
 */
export class OutboxRelay {
  readonly #options: OutboxRelayOptions;
  readonly #log: Logger;
  readonly #producer: ProducerPort;
  readonly #backoff: BackoffPolicy;
  readonly #batchSize: number;
  readonly #pollIntervalMs: number;
  readonly #stopGraceMs: number;
  readonly #stopping = new AbortController();
  readonly #stats: OutboxRelayStats = {
    published: 0,
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
  }

  /** Connects the producer and the LISTEN connection, then drains and keeps draining. */
  async start(): Promise<void> {
    await this.#producer.connect();
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
    const published = await withTransaction(this.#options.pool, async (client) => {
      const claimed = await client.query<OutboxRow>(
        `SELECT id::text AS id, topic, key, payload, headers FROM backbone.outbox
         WHERE published_at IS NULL ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED`,
        [this.#batchSize],
      );
      if (claimed.rows.length === 0) return 0;
      await this.#producer.sendBatch(toTopicMessages(claimed.rows));
      await client.query(`UPDATE backbone.outbox SET published_at = now() WHERE id = ANY($1::bigint[])`, [
        claimed.rows.map((row) => row.id),
      ]);
      return claimed.rows.length;
    });
    this.#stats.published += published;
    return published < this.#batchSize;
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
 *
 * @example await oldestUnpublishedAgeSeconds(pool) // 0
 */
export async function oldestUnpublishedAgeSeconds(db: pg.Pool | pg.ClientBase): Promise<number> {
  const result = await db.query<{ age: number | null }>(
    `SELECT extract(epoch FROM now() - min(created_at))::float8 AS age
     FROM backbone.outbox WHERE published_at IS NULL`,
  );
  return Math.max(0, result.rows[0]?.age ?? 0);
}
