import { redact } from '@backbone/config';

/**
 * The logging surface the supervisor needs. pino's logger satisfies it, so a worker passes its
 * pino instance; without one the supervisor writes JSON lines to stderr itself.
 */
export interface SupervisorLogger {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

type Level = 'info' | 'warn' | 'error';

/**
 * A logger that writes one redacted JSON object per line (`level`, `time`, `msg`, fields).
 *
 * @example const logger = createJsonLinesLogger((line) => process.stderr.write(line));
 */
export function createJsonLinesLogger(
  write: (line: string) => void = (line) => process.stderr.write(line),
): SupervisorLogger {
  const log = (level: Level, fields: object, message: string): void => {
    const entry = { level, time: new Date().toISOString(), ...redact(fields), msg: message };
    write(`${JSON.stringify(entry)}\n`);
  };
  return {
    info: (fields, message) => {
      log('info', fields, message);
    },
    warn: (fields, message) => {
      log('warn', fields, message);
    },
    error: (fields, message) => {
      log('error', fields, message);
    },
  };
}
