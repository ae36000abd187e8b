import { redactText, topicName, type SystemConfig } from '@backbone/config';
import type { ProducerPort } from '@backbone/kafka';
import {
  createProbeClients,
  createReadinessChecks,
  evaluateReadiness,
  publishSnapshot,
  ReadinessReporter,
  recentSnapshots,
  startReadinessServer,
  storeSnapshot,
  type OwnedProbeClients,
  type ReadinessChecksOptions,
  type ReadinessServer,
  type ReporterLogger,
} from '@backbone/readiness';

export interface ReporterAppOptions {
  config: SystemConfig;
  logger: ReporterLogger;
  /** Topic the snapshots go to (default: `kafka.namespace` + backbone.readiness.v1). */
  snapshotTopic?: string;
  checks?: ReadinessChecksOptions;
}

/**
 * The readiness-reporter: probe clients → checks → a probe loop that stores and publishes each
 * snapshot → the HTTP server (dashboard, /livez, /readyz, /report.json, /metrics).
 * `start()` and `stop()` run in that order and its reverse; `stop()` is idempotent.
 *
 * @example const app = new ReporterApp({ config, logger }); await app.start(); … await app.stop();
 */
export class ReporterApp {
  readonly #options: ReporterAppOptions;
  #clients: OwnedProbeClients | undefined;
  #closeChecks: (() => Promise<void>) | undefined;
  #producer: ProducerPort | undefined;
  #producerReady: Promise<ProducerPort> | undefined;
  #reporter: ReadinessReporter | undefined;
  #server: ReadinessServer | undefined;
  #stopping: Promise<void> | undefined;

  constructor(options: ReporterAppOptions) {
    this.#options = options;
  }

  /** The HTTP server's URL once started. */
  get url(): string | undefined {
    return this.#server?.url;
  }

  async start(): Promise<void> {
    const { config, logger } = this.#options;
    const clients = createProbeClients(config, (message) => {
      logger.warn({ detail: message }, 'probe client connection error');
    });
    this.#clients = clients;
    const readinessChecks = createReadinessChecks(config, clients, this.#options.checks);
    const { checks, rules } = readinessChecks;
    this.#closeChecks = () => readinessChecks.close();
    const intervalMs = config.readiness.probeIntervalSeconds * 1000;
    const reporter = new ReadinessReporter({
      evaluate: () => evaluateReadiness(checks, rules),
      intervalMs,
      logger,
      store: (snapshot) => storeSnapshot(clients.pool, snapshot),
      publish: async (snapshot) => {
        await publishSnapshot(
          await this.#connectedProducer(),
          snapshot,
          this.#options.snapshotTopic ?? topicName(config.kafka, 'backbone.readiness.v1'),
        );
      },
      loadHistory: async () => (await recentSnapshots(clients.pool, 240)).snapshots,
    });
    this.#reporter = reporter;
    const settings = config.workers.readinessReporter;
    this.#server = await startReadinessServer({
      reporter,
      port: settings.port,
      host: settings.host,
      // Three missed rounds (plus one probe timeout) make the report stale.
      staleAfterMs: intervalMs * 3 + config.readiness.probeTimeoutMs,
      endpoints: [
        { label: 'PostgreSQL', value: config.database.url },
        { label: 'Redis', value: config.redis.url },
        { label: 'Kafka brokers', value: config.kafka.brokers.join(', ') },
        { label: 'Redis key namespace', value: config.redis.keyNamespace },
      ],
    });
    logger.info({ url: this.#server.url }, 'readiness server listening');
    // The server answers 503 on /readyz until the first round finished.
    await reporter.start();
  }

  /** The reporter (for tests waiting on rounds). */
  get reporter(): ReadinessReporter | undefined {
    return this.#reporter;
  }

  #connectedProducer(): Promise<ProducerPort> {
    const clients = this.#clients;
    if (clients === undefined) return Promise.reject(new Error('the reporter is not started'));
    this.#producerReady ??= (async () => {
      const producer = clients.kafka.producer();
      this.#producer = producer;
      try {
        await producer.connect();
        return producer;
      } catch (error) {
        // Retried on the next snapshot with a fresh producer.
        this.#producerReady = undefined;
        this.#producer = undefined;
        await producer.close().catch(() => undefined);
        throw new Error(
          `Kafka producer not connected: ${redactText(error instanceof Error ? error.message : String(error))}`,
          {
            cause: error,
          },
        );
      }
    })();
    return this.#producerReady;
  }

  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      const results = await Promise.allSettled([this.#reporter?.stop()]);
      results.push(...(await Promise.allSettled([this.#server?.close()])));
      results.push(...(await Promise.allSettled([this.#closeChecks?.(), this.#producer?.close()])));
      results.push(...(await Promise.allSettled([this.#clients?.close()])));
      const failed = results.find((result) => result.status === 'rejected');
      if (failed !== undefined) throw failed.reason;
    })();
    return this.#stopping;
  }
}
