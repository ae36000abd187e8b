import { context, isSpanContextValid, trace } from '@opentelemetry/api';
import {
  pino,
  type Bindings,
  type ChildLoggerOptions,
  type DestinationStream,
  type Level,
  type LogFn,
  type Logger,
  type LoggerOptions,
} from 'pino';
import { redact, redactText } from '@backbone/config';

export type { Logger } from 'pino';

/** Options for {@link createLogger}. */
export interface CreateLoggerOptions {
  /** Logger name, usually the worker or module (`stream-bridge`, `outbox-relay`). */
  name: string;
  /** Lowest level written. */
  level: Level | 'silent';
  /** Where JSON lines go; stdout unless given (tests pass an in-memory stream). */
  destination?: DestinationStream;
}

/**
 * A pino JSON-lines logger whose every line carries the active span's `trace_id` / `span_id`
 * and has passed through the shared redaction: secret-named fields become `***`, URLs lose their
 * passwords, in the message, the merged object, format arguments and child bindings alike.
 *
 * @example const log = createLogger({ name: 'stream-bridge', level: 'info' });
 *          log.info({ topic }, 'consumer started');
 */
export function createLogger(options: CreateLoggerOptions): Logger {
  const pinoOptions: LoggerOptions = {
    name: options.name,
    level: options.level,
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: {
      level: (label) => ({ level: label }),
    },
    hooks: {
      // Redaction happens on the arguments, before pino renders anything: this is the one
      // place that sees the message, the merged object and printf-style arguments together.
      logMethod(args, method) {
        method.apply(this, redactLogArguments(args));
      },
    },
    mixin: traceFields,
  };
  const logger =
    options.destination === undefined ? pino(pinoOptions) : pino(pinoOptions, options.destination);
  // pino's own `child`, taken unbound so each wrapper can call it on its own logger.
  return withRedactedChildBindings(logger, Reflect.get(logger, 'child'));
}

/**
 * pino renders child bindings (`log.child({ url })`) once, outside the log-method hook, and
 * deliberately skips the `bindings` formatter for children; so `child` is wrapped to redact its
 * bindings, on every generation. The wrapper always calls pino's own `child` on the logger it
 * belongs to: a child inherits its parent's (own) `child` property otherwise.
 */
function withRedactedChildBindings(logger: Logger, createChild: CreateChild): Logger {
  const child = (bindings: Bindings, childOptions?: ChildLoggerOptions): Logger =>
    withRedactedChildBindings(createChild.call(logger, redact(bindings), childOptions), createChild);
  logger.child = child as unknown as Logger['child'];
  return logger;
}

type CreateChild = (this: Logger, bindings: Bindings, options?: ChildLoggerOptions) => Logger;

function traceFields(): Record<string, string> {
  const spanContext = trace.getSpanContext(context.active());
  if (spanContext === undefined || !isSpanContextValid(spanContext)) return {};
  return { trace_id: spanContext.traceId, span_id: spanContext.spanId };
}

/**
 * pino's call shapes are `(msg, ...args)` and `(obj, msg?, ...args)`. An Error as `obj` would
 * lend its unredacted message to the line when no `msg` follows, so it is wrapped as `{ err }`
 * and its redacted message passed explicitly.
 */
function redactLogArguments(args: Parameters<LogFn>): Parameters<LogFn> {
  const [first, ...rest] = args as unknown[];
  if (typeof first === 'string') return [redactText(first), ...rest.map(redactArgument)] as Parameters<LogFn>;
  // `log.info()` or `log.info(42)`: pino logs these as a bare message too.
  if (first === undefined || first === null) return ['', ...rest.map(redactArgument)] as Parameters<LogFn>;
  if (typeof first === 'number' || typeof first === 'boolean') {
    return [String(first), ...rest.map(redactArgument)] as Parameters<LogFn>;
  }
  if (typeof first !== 'object') return ['', ...rest.map(redactArgument)] as Parameters<LogFn>;
  const merged: Record<string, unknown> =
    first instanceof Error ? { err: first } : (first as Record<string, unknown>);
  const messageArgs = rest.length > 0 ? rest : defaultMessage(merged);
  return [redact(merged), ...messageArgs.map(redactArgument)] as Parameters<LogFn>;
}

function defaultMessage(merged: Record<string, unknown>): unknown[] {
  const err = merged['err'];
  return err instanceof Error ? [err.message] : [];
}

function redactArgument(arg: unknown): unknown {
  return typeof arg === 'string' ? redactText(arg) : redact(arg);
}
