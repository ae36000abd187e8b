import { redactText } from '@backbone/config';
import type { ReadinessSnapshot } from '@backbone/contracts';
import type { ReadinessReport } from './evaluate.ts';

/** Where the reporter logs; a pino logger fits. */
export interface ReporterLogger {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
}

export interface ReadinessReporterOptions {
  /** One probe round. */
  evaluate: () => Promise<ReadinessReport>;
  intervalMs: number;
  /** Stores a snapshot (e.g. in backbone.readiness_snapshots). */
  store?: (snapshot: ReadinessSnapshot) => Promise<void>;
  /** Publishes a snapshot (e.g. to backbone.readiness.v1). */
  publish?: (snapshot: ReadinessSnapshot) => Promise<void>;
  /** Loads earlier snapshots at start, oldest first, so the charts have a history at once. */
  loadHistory?: () => Promise<ReadinessSnapshot[]>;
  /** Snapshots kept in memory for the dashboard. */
  historySize?: number;
  logger: ReporterLogger;
  now?: () => Date;
}

/**
 * Runs a probe round every interval (the next one starts when the previous finished, so rounds
 * never overlap), keeps the newest report and a bounded history, and stores and publishes each
 * snapshot. A failed store or publish is logged and shown on the dashboard; it never stops the
 * probing, because readiness matters most exactly when a dependency is down.
 *
 * @example const reporter = new ReadinessReporter({ evaluate, intervalMs: 15_000, logger }); await reporter.start();
 */
export class ReadinessReporter {
  readonly #options: ReadinessReporterOptions;
  readonly #history: ReadinessSnapshot[] = [];
  #latest: ReadinessReport | undefined;
  #lastRoundAt: number | undefined;
  #timer: NodeJS.Timeout | undefined;
  #round: Promise<void> | undefined;
  #stopping: Promise<void> | undefined;
  #deliveryProblems = new Map<string, string>();
  #waiters: (() => void)[] = [];

  constructor(options: ReadinessReporterOptions) {
    this.#options = options;
  }

  /** Loads the history, runs the first round and schedules the next ones. */
  async start(): Promise<void> {
    if (this.#options.loadHistory !== undefined) {
      try {
        this.#history.push(...(await this.#options.loadHistory()));
        this.#trim();
      } catch (error) {
        this.#options.logger.warn({ err: error }, 'readiness history not loaded; charts start empty');
      }
    }
    await this.runRound();
  }

  /** The newest report, undefined before the first round finished. */
  latest(): ReadinessReport | undefined {
    return this.#latest;
  }

  /** Snapshots oldest first, the newest included. */
  history(): readonly ReadinessSnapshot[] {
    return this.#history;
  }

  /** Store or publish failures of the newest round, as sentences. */
  reporterProblems(): string[] {
    return [...this.#deliveryProblems.values()];
  }

  /** False when no round finished for three intervals: the probe loop is stuck. */
  isLive(): boolean {
    const now = (this.#options.now ?? (() => new Date()))().getTime();
    if (this.#lastRoundAt === undefined) return true;
    return now - this.#lastRoundAt < this.#options.intervalMs * 3 + 60_000;
  }

  /** Resolves after the next round completes. */
  nextRound(): Promise<void> {
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /** Runs one round now (unless one is running, which is awaited instead). */
  runRound(): Promise<void> {
    this.#round ??= this.#execute().finally(() => {
      this.#round = undefined;
      if (this.#stopping === undefined) {
        clearTimeout(this.#timer);
        this.#timer = setTimeout(() => void this.runRound(), this.#options.intervalMs);
      }
    });
    return this.#round;
  }

  async #execute(): Promise<void> {
    const { logger } = this.#options;
    try {
      const report = await this.#options.evaluate();
      this.#latest = report;
      this.#history.push(report.snapshot);
      this.#trim();
      logger.info(
        {
          snapshot: report.snapshot.id,
          status: report.snapshot.status,
          readiness: report.groups.readiness,
          problems: report.problems,
        },
        'readiness evaluated',
      );
      await Promise.all([
        this.#deliver('store', report.snapshot, this.#options.store),
        this.#deliver('publish', report.snapshot, this.#options.publish),
      ]);
    } catch (error) {
      // evaluate() catches every probe failure itself; reaching here is a bug in the reporter.
      logger.warn({ err: error }, 'readiness round could not be evaluated');
    } finally {
      this.#lastRoundAt = (this.#options.now ?? (() => new Date()))().getTime();
      for (const resolve of this.#waiters.splice(0)) resolve();
    }
  }

  async #deliver(
    what: 'store' | 'publish',
    snapshot: ReadinessSnapshot,
    deliver: ((snapshot: ReadinessSnapshot) => Promise<void>) | undefined,
  ): Promise<void> {
    if (deliver === undefined) return;
    try {
      await deliver(snapshot);
      this.#deliveryProblems.delete(what);
    } catch (error) {
      const detail = redactText(error instanceof Error ? error.message : String(error));
      const sentence =
        what === 'store'
          ? `Snapshot ${snapshot.id} was not stored in backbone.readiness_snapshots: ${detail}`
          : `Snapshot ${snapshot.id} was not published to Kafka: ${detail}`;
      this.#deliveryProblems.set(what, sentence);
      this.#options.logger.warn({ err: error, snapshot: snapshot.id }, `readiness snapshot ${what} failed`);
    }
  }

  #trim(): void {
    const size = this.#options.historySize ?? 240;
    if (this.#history.length > size) this.#history.splice(0, this.#history.length - size);
  }

  /** Stops scheduling and waits for a running round. Idempotent. */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      clearTimeout(this.#timer);
      await this.#round;
      clearTimeout(this.#timer);
    })();
    return this.#stopping;
  }
}
