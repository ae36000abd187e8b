import { hostname } from 'node:os';
import { diag, DiagLogLevel, metrics, type DiagLogger } from '@opentelemetry/api';
import { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { MeterProvider, PeriodicExportingMetricReader, type IMetricReader } from '@opentelemetry/sdk-metrics';
import {
  AlwaysOnSampler,
  BatchSpanProcessor,
  NodeTracerProvider,
  NoopSpanProcessor,
  ParentBasedSampler,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-node';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions';
import type { DestinationStream, Level } from 'pino';
import { JsonLinesFileSpanExporter } from './file-span-exporter.ts';
import type { MetricsHandler } from './health-server.ts';
import { createLogger } from './logger.ts';
import { ATTR_SERVICE_INSTANCE_ID } from './semconv.ts';

/** What the process-wide telemetry needs to know; built from SystemConfig by the register module. */
export interface TelemetryOptions {
  /** `service.name`: the worker role (`stream-bridge`, `timescale-ingestor`, …). */
  serviceName: string;
  /** `service.version`: the deployed version. */
  serviceVersion: string;
  /** Base URL of an OTLP/HTTP collector (`http://collector:4318`); no OTLP export when absent. */
  otlpEndpoint?: string | undefined;
  /** Append every span as a JSON line to this file (end-to-end tests, debugging). */
  spanFilePath?: string | undefined;
  /** Level of the OpenTelemetry SDK's own diagnostics (exporter failures and the like). */
  logLevel: Level | 'silent';
  /** Where those diagnostics go: stdout (the worker's log stream) unless given; a command whose stdout is its result passes stderr. */
  logDestination?: DestinationStream;
  /** `service.instance.id`; `<host>:<pid>` when absent, the supervisor's heartbeat instance id. */
  instanceId?: string;
  /** How often metrics are pushed to the OTLP collector. */
  metricExportIntervalMs?: number;
}

/** The started telemetry of this process. */
export interface Telemetry {
  /** The resource attributes every span and metric carries. */
  readonly resource: Readonly<Record<string, string>>;
  /** Serves the Prometheus text exposition; mount it at `/metrics` (see `startHealthServer`). */
  readonly metricsHandler: MetricsHandler;
  /** Flushes and stops every exporter. Idempotent. */
  shutdown(): Promise<void>;
}

/** Thrown when telemetry is started twice in one process: the first start owns the globals. */
export class TelemetryAlreadyStartedError extends Error {
  override readonly name = 'TelemetryAlreadyStartedError';
  readonly serviceName: string;
  constructor(serviceName: string) {
    super(`telemetry is already started in this process (service ${serviceName})`);
    this.serviceName = serviceName;
  }
}

// On globalThis rather than in a module variable: the register module (loaded with
// `node --import`) and the worker's own import of this library must see the same instance
// even if they resolve to different copies of the file (source vs. built output).
const ACTIVE = Symbol.for('@backbone/telemetry.active');
type GlobalWithTelemetry = typeof globalThis & { [ACTIVE]?: Telemetry };

/** The telemetry started in this process, if any. */
export function activeTelemetry(): Telemetry | undefined {
  return (globalThis as GlobalWithTelemetry)[ACTIVE];
}

/**
 * Starts OpenTelemetry for this process: traces and metrics, OTLP/HTTP export when
 * an endpoint is configured, Prometheus metrics served through {@link Telemetry.metricsHandler},
 * an optional JSON-lines span file. Call it once, before anything else is imported; the
 * register module (`node --import @backbone/telemetry/register`) does exactly that.
 *
 * @example const telemetry = startTelemetry({ serviceName: 'stream-bridge', serviceVersion: '0.1.0', logLevel: 'info' });
 */
export function startTelemetry(options: TelemetryOptions): Telemetry {
  const existing = activeTelemetry();
  if (existing !== undefined)
    throw new TelemetryAlreadyStartedError(existing.resource[ATTR_SERVICE_NAME] ?? '?');

  diag.setLogger(diagLogger(options.logLevel, options.logDestination), toDiagLevel(options.logLevel));

  const resourceAttributes: Record<string, string> = {
    [ATTR_SERVICE_NAME]: options.serviceName,
    [ATTR_SERVICE_VERSION]: options.serviceVersion,
    [ATTR_SERVICE_INSTANCE_ID]: options.instanceId ?? `${hostname()}:${process.pid}`,
  };

  // The exporter's own HTTP server stays off: workers serve /metrics on their health server.
  const prometheus = new PrometheusExporter({ preventServerStart: true });
  const metricReaders: IMetricReader[] = [prometheus];
  const spanProcessors: SpanProcessor[] = [];
  if (options.otlpEndpoint !== undefined) {
    const base = options.otlpEndpoint.replace(/\/+$/, '');
    spanProcessors.push(new BatchSpanProcessor(new OTLPTraceExporter({ url: `${base}/v1/traces` })));
    metricReaders.push(
      new PeriodicExportingMetricReader({
        exporter: new OTLPMetricExporter({ url: `${base}/v1/metrics` }),
        exportIntervalMillis: options.metricExportIntervalMs ?? 15_000,
      }),
    );
  }
  if (options.spanFilePath !== undefined) {
    spanProcessors.push(
      new BatchSpanProcessor(new JsonLinesFileSpanExporter(options.spanFilePath), {
        scheduledDelayMillis: 200,
      }),
    );
  }
  // Spans are recorded even with no exporter: trace ids still appear in log lines and still
  // travel on to the next worker, which may export them.
  if (spanProcessors.length === 0) spanProcessors.push(new NoopSpanProcessor());

  // The tracer and meter providers themselves rather than NodeSDK: NodeSDK loads every exporter
  // it could be configured with (gRPC, protobuf, Zipkin, the logs SDK), about 18 MB of a worker's
  // memory for code that is never used here. No resource detectors either: the process detector
  // records the command line, and a `--set database.url=postgres://user:secret@…` argument must
  // never become an attribute. No logs SDK: logs go to stdout through pino.
  const resource = resourceFromAttributes(resourceAttributes);
  const tracerProvider = new NodeTracerProvider({
    resource,
    sampler: new ParentBasedSampler({ root: new AlwaysOnSampler() }),
    spanProcessors,
  });
  // Registers the provider, the AsyncLocalStorage context manager and the W3C propagators.
  tracerProvider.register({
    propagator: new CompositePropagator({
      propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()],
    }),
  });
  const meterProvider = new MeterProvider({ resource, readers: metricReaders });
  metrics.setGlobalMeterProvider(meterProvider);

  let stopping: Promise<void> | undefined;
  const telemetry: Telemetry = {
    resource: resourceAttributes,
    metricsHandler: (request, response) => {
      prometheus.getMetricsRequestHandler(request, response);
    },
    shutdown() {
      stopping ??= Promise.all([tracerProvider.shutdown(), meterProvider.shutdown()])
        .then(() => undefined)
        .finally(() => {
          (globalThis as GlobalWithTelemetry)[ACTIVE] = undefined;
        });
      return stopping;
    },
  };
  (globalThis as GlobalWithTelemetry)[ACTIVE] = telemetry;
  return telemetry;
}

function diagLogger(level: Level | 'silent', destination: DestinationStream | undefined): DiagLogger {
  const log = createLogger({
    name: 'opentelemetry',
    level,
    ...(destination === undefined ? {} : { destination }),
  });
  return {
    error: (message, ...args) => {
      log.error({ args }, message);
    },
    warn: (message, ...args) => {
      log.warn({ args }, message);
    },
    info: (message, ...args) => {
      log.info({ args }, message);
    },
    debug: (message, ...args) => {
      log.debug({ args }, message);
    },
    verbose: (message, ...args) => {
      log.trace({ args }, message);
    },
  };
}

function toDiagLevel(level: Level | 'silent'): DiagLogLevel {
  // The SDK is chatty below WARN; its info/debug output is only wanted when debugging.
  switch (level) {
    case 'silent':
      return DiagLogLevel.NONE;
    case 'trace':
      return DiagLogLevel.VERBOSE;
    case 'debug':
      return DiagLogLevel.DEBUG;
    case 'fatal':
    case 'error':
      return DiagLogLevel.ERROR;
    case 'warn':
    case 'info':
      return DiagLogLevel.WARN;
  }
}
