/** A drill was asked to run against a non-local stack without `confirmNonLocal`. */
export class DrillRefusedError extends Error {
  override readonly name = 'DrillRefusedError';
  readonly hosts: readonly string[];
  constructor(hosts: readonly string[]) {
    super(
      `a drill cuts live traffic and runs only against a local stack (127.0.0.1/localhost); non-local hosts: ${hosts.join(', ')}. Pass --confirm-non-local to run it anyway`,
    );
    this.hosts = hosts;
  }
}

/** The drill target is not one the drill knows how to cut. */
export class DrillTargetError extends Error {
  override readonly name = 'DrillTargetError';
  readonly target: string;
  constructor(target: string, reason: string) {
    super(`drill target ${target}: ${reason}`);
    this.target = target;
  }
}

/**
 * The drill's load did not do what a measurement needs: the sink did not join or store a bar, the
 * feed finished before the cut, or the feed failed.
 */
export class DrillLoadError extends Error {
  override readonly name = 'DrillLoadError';
  readonly phase: string;
  constructor(phase: string, message: string, options?: { cause?: unknown }) {
    super(`${phase}: ${message}`, options);
    this.phase = phase;
  }
}
