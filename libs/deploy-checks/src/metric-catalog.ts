/**
 * The key series that Prometheus, the Grafana dashboard (deploy/grafana/backbone.json) and the
 * autoscalers (deploy/k8s/autoscaling.yaml) rely on, as the workers' OpenTelemetry instruments
 * scrape through the Prometheus exporter (dots become underscores, counters get `_total`, no
 * unit suffix). `recordedBy` names the code that records the instrument and the worker that
 * serves it; the end-to-end test (apps/cli/src/e2e/backbone.e2e.test.ts) has the real Prometheus
 * scrape the four real workers and asserts that each series exists with these labels and moves.
 */
export interface KeySeries {
  /** Prometheus metric name. */
  readonly name: string;
  /** The OpenTelemetry instrument. */
  readonly instrument: string;
  readonly kind: 'counter' | 'gauge';
  /** Labels the dashboard and autoscalers select or group by. */
  readonly labels: readonly string[];
  readonly recordedBy: string;
}

/** @example KEY_SERIES.map((series) => series.name) */
export const KEY_SERIES = [
  {
    name: 'backbone_ingest_rows_total',
    instrument: 'backbone.ingest.rows',
    kind: 'counter',
    labels: ['outcome', 'dimension'],
    recordedBy: 'libs/ingest/src/metrics.ts (timescale-ingestor, per plan run)',
  },
  {
    name: 'backbone_ingest_freshness',
    instrument: 'backbone.ingest.freshness (s)',
    kind: 'gauge',
    labels: ['dimension', 'symbol'],
    recordedBy: 'libs/ingest/src/metrics.ts (timescale-ingestor, at the end of each run)',
  },
  {
    name: 'backbone_cache_requests_total',
    instrument: 'backbone.cache.requests',
    kind: 'counter',
    labels: ['result', 'dataset'],
    recordedBy:
      'libs/cache/src/request-metrics.ts (cache-warmer; the shared stats of every reader, result = hit | miss)',
  },
  {
    name: 'backbone_stream_consumer_lag',
    instrument: 'backbone.stream.consumer_lag',
    kind: 'gauge',
    labels: ['messaging_destination_name', 'messaging_destination_partition_id'],
    recordedBy: 'libs/stream/src/lag.ts (stream-bridge)',
  },
  {
    name: 'backbone_queue_jobs',
    instrument: 'backbone.queue.jobs',
    kind: 'gauge',
    labels: ['queue', 'state'],
    recordedBy:
      'libs/telemetry/src/queue-metrics.ts (timescale-ingestor: ingest, cache-warmer: cache-warm; state = waiting | active | delayed | failed | prioritized)',
  },
] as const satisfies readonly KeySeries[];

/** The four worker roles with their default HTTP ports (config `workers.<name>.port`). */
export const WORKERS = [
  { app: 'timescale-ingestor', configKey: 'timescaleIngestor', port: 8081 },
  { app: 'stream-bridge', configKey: 'streamBridge', port: 8082 },
  { app: 'cache-warmer', configKey: 'cacheWarmer', port: 8083 },
  { app: 'readiness-reporter', configKey: 'readinessReporter', port: 8080 },
] as const;
