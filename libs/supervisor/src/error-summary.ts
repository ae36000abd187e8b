import { inspect } from 'node:util';
import { redactText } from '@backbone/config';
import type { ErrorSummary } from './snapshot.ts';

/**
 * An error reduced to what may leave the process (snapshots, heartbeats, the exit report): its
 * name and redacted message, plus the direct cause's message, never a stack.
 *
 * @example summarizeError(new Error('redis://:pw@h down')) // { name: 'Error', message: 'redis://:***@h down' }
 */
export function summarizeError(error: unknown): ErrorSummary {
  if (!(error instanceof Error)) return { name: 'NonError', message: redactText(inspect(error)) };
  const cause = error.cause instanceof Error ? ` (cause: ${error.cause.name}: ${error.cause.message})` : '';
  return { name: error.name, message: redactText(`${error.message}${cause}`) };
}
