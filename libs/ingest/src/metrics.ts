import { metrics, type Attributes } from '@opentelemetry/api';

const meter = metrics.getMeter('@backbone/ingest');

/** Rows per outcome (inserted, updated, unchanged, rejected) per source and dimension. */
const rows = meter.createCounter('backbone.ingest.rows', {
  description: 'Rows handled by ingest runs, by outcome',
  unit: '{row}',
});
const runDuration = meter.createHistogram('backbone.ingest.run.duration', {
  description: 'Wall time of one ingest run',
  unit: 's',
});
const runs = meter.createCounter('backbone.ingest.runs', {
  description: 'Finished ingest runs, by status',
  unit: '{run}',
});
const freshness = meter.createGauge('backbone.ingest.freshness', {
  description: 'Age of the newest stored bar per (dimension, symbol) at the end of its last run',
  unit: 's',
});

/** The OTel instruments of the pipeline; they are no-ops until telemetry has started. */
export const ingestMetrics = {
  rows(
    outcome: 'inserted' | 'updated' | 'unchanged' | 'rejected',
    count: number,
    attributes: Attributes,
  ): void {
    if (count > 0) rows.add(count, { ...attributes, outcome });
  },
  run(status: string, seconds: number, attributes: Attributes): void {
    runs.add(1, { ...attributes, status });
    runDuration.record(seconds, { ...attributes, status });
  },
  freshness(seconds: number, attributes: Attributes): void {
    freshness.record(seconds, attributes);
  },
};
