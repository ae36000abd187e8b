import { metrics, type Attributes, type Meter, type MeterProvider } from '@opentelemetry/api';

function createInstruments(meter: Meter) {
  return {
    /** Rows per outcome (inserted, updated, unchanged, rejected) per source and dimension. */
    rows: meter.createCounter('backbone.ingest.rows', {
      description: 'Rows handled by ingest runs, by outcome',
      unit: '{row}',
    }),
    runDuration: meter.createHistogram('backbone.ingest.run.duration', {
      description: 'Wall time of one ingest run',
      unit: 's',
    }),
    runs: meter.createCounter('backbone.ingest.runs', {
      description: 'Finished ingest runs, by status',
      unit: '{run}',
    }),
    freshness: meter.createGauge('backbone.ingest.freshness', {
      description: 'Age of the newest stored bar per (dimension, symbol) at the end of its last run',
      unit: 's',
    }),
  };
}

let current: { provider: MeterProvider; instruments: ReturnType<typeof createInstruments> } | undefined;

/**
 * The instruments of the global meter provider as it is now. Unlike the tracer API, the metrics
 * API has no proxy provider: a meter taken at import time, before telemetry started, would stay
 * a no-op for good. So they are (re)made whenever the global provider changed.
 */
function instruments(): ReturnType<typeof createInstruments> {
  const provider = metrics.getMeterProvider();
  if (current?.provider !== provider) {
    current = { provider, instruments: createInstruments(provider.getMeter('@backbone/ingest')) };
  }
  return current.instruments;
}

/** The OTel instruments of the pipeline; they are no-ops while telemetry has not started. */
export const ingestMetrics = {
  rows(
    outcome: 'inserted' | 'updated' | 'unchanged' | 'rejected',
    count: number,
    attributes: Attributes,
  ): void {
    if (count > 0) instruments().rows.add(count, { ...attributes, outcome });
  },
  run(status: string, seconds: number, attributes: Attributes): void {
    const { runs, runDuration } = instruments();
    runs.add(1, { ...attributes, status });
    runDuration.record(seconds, { ...attributes, status });
  },
  freshness(seconds: number, attributes: Attributes): void {
    instruments().freshness.record(seconds, attributes);
  },
};
