import type { BarRejectReason } from '@backbone/contracts';

/**
 * A `market.bars.v1` record broke a bar rule (or was not JSON). Never thrown across the sink:
 * it names the record's fate in its dead letter (`errorClass` = this class's name).
 */
export class InvalidBarError extends Error {
  override readonly name = 'InvalidBarError';
  readonly reason: BarRejectReason;

  constructor(reason: BarRejectReason, message: string) {
    super(message);
    this.reason = reason;
  }
}

/**
 * A record larger than the configured `kafka.maxMessageBytes`. Its dead letter carries as much of
 * the payload as fits the DLQ topic; the whole record then goes to `backbone.rejected_records`.
 */
export class MessageTooLargeError extends Error {
  override readonly name = 'MessageTooLargeError';
  readonly reason = 'message_too_large';
  readonly sizeBytes: number;
  readonly limitBytes: number;

  constructor(sizeBytes: number, limitBytes: number) {
    super(`record of ${sizeBytes} bytes exceeds the ${limitBytes}-byte limit`);
    this.sizeBytes = sizeBytes;
    this.limitBytes = limitBytes;
  }
}

/**
 * A bar that passed the contract but that the database refused (a value out of a column's range,
 * a constraint): isolated from its slice by bisection, so the rest commit. The message is the
 * database's own, with its SQLSTATE.
 */
export class DatabaseRejectedError extends Error {
  override readonly name = 'DatabaseRejectedError';
  readonly reason = 'database_rejected';
  readonly sqlState: string | undefined;

  constructor(cause: Error, sqlState: string | undefined) {
    super(
      `the database refused the bar: ${cause.message}${sqlState === undefined ? '' : ` (SQLSTATE ${sqlState})`}`,
      {
        cause,
      },
    );
    this.sqlState = sqlState;
  }
}

/** Why a record was dead-lettered. */
export type RecordRejection = InvalidBarError | MessageTooLargeError | DatabaseRejectedError;

/** A sink or relay option is unusable (e.g. a batch limit of 0). */
export class StreamOptionsError extends Error {
  override readonly name = 'StreamOptionsError';
  readonly option: string;

  constructor(option: string, message: string) {
    super(`${option}: ${message}`);
    this.option = option;
  }
}

/** An offset gap cannot be resolved as asked (none is open, or the target is outside the log). */
export class OffsetGapError extends Error {
  override readonly name = 'OffsetGapError';
}
