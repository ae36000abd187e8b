import { describe, expect, it } from 'vitest';
import { classifyDatabaseError, sqlState } from './database-errors.ts';
import { InvalidRowError } from './errors.ts';

/** An error shaped like pg's DatabaseError. */
function pgError(code: string): Error {
  return Object.assign(new Error(`SQLSTATE ${code}`), { code });
}

describe('classifyDatabaseError', () => {
  it.each([
    ['08006', 'connection failure'],
    ['08003', 'connection does not exist'],
    ['40001', 'serialization failure'],
    ['40P01', 'deadlock detected'],
    ['53200', 'out of memory'],
    ['53300', 'too many connections'],
    ['57P01', 'admin shutdown'],
    ['57P03', 'cannot connect now'],
    ['57014', 'statement timeout'],
    ['55P03', 'lock not available'],
    ['58030', 'I/O error'],
  ])('%s (%s) is transient: retry the same rows', (code) => {
    expect(classifyDatabaseError(pgError(code))).toBe('transient');
  });

  it.each([
    ['22008', 'date/time field value out of range'],
    ['22003', 'numeric value out of range'],
    ['22021', 'character not in repertoire (NUL)'],
    ['22001', 'string data right truncation'],
    ['23514', 'check violation'],
    ['23502', 'not null violation'],
  ])('%s (%s) is row_rejected: isolate the refused rows', (code) => {
    expect(classifyDatabaseError(pgError(code))).toBe('row_rejected');
  });

  it.each([
    ['42P01', 'undefined table'],
    ['42501', 'insufficient privilege'],
    ['25P02', 'in failed transaction'],
    ['XX000', 'internal error'],
  ])('%s (%s) is permanent: no row is at fault', (code) => {
    expect(classifyDatabaseError(pgError(code))).toBe('permanent');
  });

  it("the write path's own InvalidRowError is row_rejected", () => {
    expect(classifyDatabaseError(new InvalidRowError(3, 'symbol', 'contains a NUL character'))).toBe(
      'row_rejected',
    );
  });

  it('a client-side failure without a SQLSTATE (socket closed, ECONNREFUSED) is transient', () => {
    expect(classifyDatabaseError(new Error('Connection terminated unexpectedly'))).toBe('transient');
    expect(classifyDatabaseError(Object.assign(new Error('connect'), { code: 'ECONNREFUSED' }))).toBe(
      'transient',
    );
    expect(sqlState(Object.assign(new Error('x'), { code: 'ECONNRESET' }))).toBeUndefined();
  });
});
