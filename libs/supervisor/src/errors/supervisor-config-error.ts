/**
 * The supervisor, a child spec or a heartbeat was configured in a way that cannot work
 * (duplicate child names, a TTL shorter than the heartbeat interval, …). A programming error:
 * never retried.
 */
export class SupervisorConfigError extends Error {
  override readonly name = 'SupervisorConfigError';
  /** The option at fault, e.g. `children[2].name` or `ttlMs`. */
  readonly option: string;

  constructor(option: string, problem: string) {
    super(`invalid supervisor option ${option}: ${problem}`);
    this.option = option;
  }
}
