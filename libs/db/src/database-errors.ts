import { InvalidRowError } from './errors.ts';

/**
 * What a failed write means for the rows it carried:
 * - `transient`: the database or the connection failed, not the rows (connection lost, server
 *   shutting down, serialization failure, deadlock, out of resources, timeout). Retry the same
 *   work later; nothing is wrong with it.
 * - `row_rejected`: the database refused a value (SQLSTATE class 22 data exception, 23 integrity
 *   constraint violation, or the write path's own {@link InvalidRowError}). Retrying the same rows
 *   fails the same way forever; the rows at fault must be isolated and rejected.
 * - `permanent`: neither: the statement itself cannot run (undefined table, permissions, a bug).
 *   No row is at fault, so none may be rejected for it; retrying keeps the failure visible until
 *   an operator fixes the cause.
 */
export type DatabaseErrorKind = 'transient' | 'row_rejected' | 'permanent';

// SQLSTATE classes and codes, https://www.postgresql.org/docs/current/errcodes-appendix.html
const TRANSIENT_CLASSES = new Set([
  '08', // connection exception
  '40', // transaction rollback: 40001 serialization failure, 40P01 deadlock detected, ...
  '53', // insufficient resources: disk full, out of memory, too many connections
  '58', // system error (I/O)
]);
const TRANSIENT_CODES = new Set([
  '57014', // query_canceled (statement_timeout)
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now (starting up, in recovery)
  '57P05', // idle_session_timeout
  '55P03', // lock_not_available (lock_timeout)
]);
const ROW_REJECTED_CLASSES = new Set(['22', '23']);

/**
 * Classifies an error thrown by a database write (see {@link DatabaseErrorKind}). An error
 * without a SQLSTATE is a client-side failure (socket closed, connection refused, timeout), so it
 * is transient.
 *
 * @example if (classifyDatabaseError(error) === 'row_rejected') await isolateRefusedRows();
 */
export function classifyDatabaseError(error: unknown): DatabaseErrorKind {
  if (error instanceof InvalidRowError) return 'row_rejected';
  const code = sqlState(error);
  if (code === undefined) return 'transient';
  if (TRANSIENT_CODES.has(code) || TRANSIENT_CLASSES.has(code.slice(0, 2))) return 'transient';
  if (ROW_REJECTED_CLASSES.has(code.slice(0, 2))) return 'row_rejected';
  return 'permanent';
}

/** The SQLSTATE of a PostgreSQL error (pg's `DatabaseError.code`), if the error carries one. */
export function sqlState(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null || !('code' in error)) return undefined;
  const { code } = error;
  // Node's own errors have codes too (ECONNRESET); a SQLSTATE is five digits or capitals.
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}
