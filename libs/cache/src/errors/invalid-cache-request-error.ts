/** A cache request that names an unknown dataset, a malformed symbol or a wrong timeframe. */
export class InvalidCacheRequestError extends Error {
  override readonly name = 'InvalidCacheRequestError';
  /** The request field at fault: `dataset`, `symbol` or `timeframe`. */
  readonly field: string;
  readonly value: string;
  readonly retriable = false;

  constructor(field: string, rule: string, value: string) {
    super(`${field}: ${rule} (got ${JSON.stringify(value)})`);
    this.field = field;
    this.value = value;
  }
}
