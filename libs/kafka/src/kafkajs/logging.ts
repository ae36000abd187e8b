import { redact, redactText } from '@backbone/config';
import { logLevel, type LogEntry, type logCreator } from 'kafkajs';
import type { KafkaLogger } from '../logger.ts';

/**
 * Routes kafkajs's own log lines into our logger instead of its console default. Every line is
 * redacted: kafkajs logs broker addresses, SASL mechanism errors and request payload fragments.
 */
export function kafkajsLogCreator(logger: KafkaLogger): logCreator {
  return () =>
    ({ namespace, level, log }: LogEntry) => {
      const { message, timestamp: _timestamp, logger: _source, ...extra } = log as Record<string, unknown>;
      const fields = redact({ component: 'kafkajs', namespace, ...extra });
      const text = redactText(typeof message === 'string' ? message : String(message));
      switch (level) {
        case logLevel.ERROR:
          logger.error(fields, text);
          break;
        case logLevel.WARN:
          logger.warn(fields, text);
          break;
        case logLevel.INFO:
          logger.info(fields, text);
          break;
        default:
          logger.debug(fields, text);
      }
    };
}
