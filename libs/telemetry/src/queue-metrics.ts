import { metrics, type Meter, type ObservableGauge } from '@opentelemetry/api';
import type { Logger } from './logger.ts';

/** The job states whose counts make a queue's depth (completed jobs are history, not depth). */
export const QUEUE_DEPTH_STATES = ['waiting', 'active', 'delayed', 'failed', 'prioritized'] as const;

/** The part of a BullMQ `Queue` the gauge reads. */
export interface CountedQueue {
  readonly name: string;
  getJobCounts(...types: string[]): Promise<Record<string, number>>;
}

/**
 * Registers the OTel gauge `backbone.queue.jobs` (jobs; attributes `queue`, `state`), read from
 * Redis at each collection (one `getJobCounts` per queue per scrape), so Prometheus and the
 * autoscalers see the queue as it is, whichever instance is scraped. A failed read is logged and
 * skipped, never reported as an empty queue.
 *
 * @example registerQueueDepthGauge({ queues: [app.queue], logger });
 */
export function registerQueueDepthGauge(input: {
  readonly queues: readonly CountedQueue[];
  readonly logger: Logger;
  readonly meter?: Meter;
}): ObservableGauge {
  const meter = input.meter ?? metrics.getMeter('@backbone/telemetry');
  const gauge = meter.createObservableGauge('backbone.queue.jobs', {
    description: 'BullMQ jobs per queue and state (waiting, active, delayed, failed, prioritized).',
    unit: '{job}',
  });
  gauge.addCallback(async (result) => {
    for (const queue of input.queues) {
      try {
        const counts = await queue.getJobCounts(...QUEUE_DEPTH_STATES);
        for (const state of QUEUE_DEPTH_STATES)
          result.observe(counts[state] ?? 0, { queue: queue.name, state });
      } catch (error) {
        input.logger.warn({ err: error, queue: queue.name }, 'queue depth not measured');
      }
    }
  });
  return gauge;
}
