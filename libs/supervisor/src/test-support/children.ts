import type { SupervisorLogger } from '../logger.ts';

/** A child body that runs until its signal is aborted, then exits normally. */
export function untilAborted(signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    signal.addEventListener(
      'abort',
      () => {
        resolve();
      },
      { once: true },
    );
  });
}

/** A child body that ignores its signal and never settles. */
export function hangForever(): Promise<void> {
  return new Promise<void>(() => undefined);
}

export interface LogEntry {
  level: 'info' | 'warn' | 'error';
  fields: Record<string, unknown>;
  message: string;
}

/** A logger that keeps what it was given, so tests can assert on what the supervisor reported. */
export function recordingLogger(): { logger: SupervisorLogger; entries: LogEntry[] } {
  const entries: LogEntry[] = [];
  const record =
    (level: LogEntry['level']) =>
    (fields: object, message: string): void => {
      entries.push({ level, fields: { ...fields }, message });
    };
  return { logger: { info: record('info'), warn: record('warn'), error: record('error') }, entries };
}
