/**
 * The logger the Kafka adapter writes to: the shape pino and most structured loggers share, so the
 * worker's own logger can be passed as is.
 */
export interface KafkaLogger {
  debug(fields: Record<string, unknown>, message: string): void;
  info(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
  error(fields: Record<string, unknown>, message: string): void;
}

/** A logger that drops everything: for callers that have nothing to log to. */
export const silentKafkaLogger: KafkaLogger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};
