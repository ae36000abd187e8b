import { appendFile } from 'node:fs/promises';
import {
  ExportResultCode,
  hrTimeToMilliseconds,
  hrTimeToTimeStamp,
  type ExportResult,
} from '@opentelemetry/core';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-node';
import { SpanKind } from '@opentelemetry/api';

/** One span as a line of the span file. */
export interface SpanFileRecord {
  traceId: string;
  spanId: string;
  /** Absent for a root span. */
  parentSpanId?: string;
  name: string;
  kind: string;
  /** ISO-8601 start time with nanosecond digits. */
  startTime: string;
  durationMs: number;
  status: { code: number; message?: string };
  attributes: ReadableSpan['attributes'];
  /** `service.name` and `service.instance.id` of the process that recorded the span. */
  resource: Record<string, unknown>;
}

/**
 * Appends every finished span as one JSON line to a file. Several processes may share one file
 * (appends of a batch are a single write), which lets an end-to-end test read back one trace
 * that crossed several workers. A debugging aid, not a production exporter.
 *
 * @example new BatchSpanProcessor(new JsonLinesFileSpanExporter('/tmp/spans.jsonl'))
 */
export class JsonLinesFileSpanExporter implements SpanExporter {
  readonly #path: string;
  #pending: Promise<void> = Promise.resolve();
  #stopped = false;

  constructor(path: string) {
    this.#path = path;
  }

  export(spans: ReadableSpan[], resultCallback: (result: ExportResult) => void): void {
    if (this.#stopped) {
      resultCallback({ code: ExportResultCode.FAILED, error: new Error('span file exporter is shut down') });
      return;
    }
    const text = spans.map((span) => JSON.stringify(toRecord(span))).join('\n') + '\n';
    // Chained so batches land in the order they were exported.
    this.#pending = this.#pending.then(() =>
      appendFile(this.#path, text).then(
        () => {
          resultCallback({ code: ExportResultCode.SUCCESS });
        },
        (error: unknown) => {
          resultCallback({
            code: ExportResultCode.FAILED,
            error: error instanceof Error ? error : new Error(String(error)),
          });
        },
      ),
    );
  }

  forceFlush(): Promise<void> {
    return this.#pending;
  }

  async shutdown(): Promise<void> {
    this.#stopped = true;
    await this.#pending;
  }
}

function toRecord(span: ReadableSpan): SpanFileRecord {
  const attributes = span.resource.attributes;
  const parentSpanId = span.parentSpanContext?.spanId;
  return {
    traceId: span.spanContext().traceId,
    spanId: span.spanContext().spanId,
    ...(parentSpanId === undefined ? {} : { parentSpanId }),
    name: span.name,
    kind: SpanKind[span.kind],
    startTime: hrTimeToTimeStamp(span.startTime),
    durationMs: hrTimeToMilliseconds(span.duration),
    status:
      span.status.message === undefined
        ? { code: span.status.code }
        : { code: span.status.code, message: span.status.message },
    attributes: span.attributes,
    resource: {
      'service.name': attributes['service.name'],
      'service.instance.id': attributes['service.instance.id'],
    },
  };
}
