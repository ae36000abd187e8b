import type { ReadinessStatus } from '@backbone/contracts';

export interface MeasureOutageOptions {
  /** One live probe of the dependency under drill (e.g. a check run through `runCheck`). */
  probe: () => Promise<ReadinessStatus>;
  /** Cuts the dependency (e.g. `proxy.cut()`). */
  cut: () => void | Promise<void>;
  /** Restores it. */
  restore: () => void | Promise<void>;
  /** Pause between probes while waiting for a change. */
  pollIntervalMs: number;
  /** Give up waiting for detection or recovery after this long. */
  timeoutMs: number;
  now?: () => number;
}

/** How long readiness took to notice an outage and to see the recovery. */
export interface OutageMeasurement {
  detectionSeconds: number;
  recoverySeconds: number;
}

/** Detection or recovery did not happen within the drill's timeout. */
export class OutageNotObservedError extends Error {
  override readonly name = 'OutageNotObservedError';
  readonly phase: 'baseline' | 'detection' | 'recovery';
  readonly timeoutMs: number;
  constructor(
    phase: 'baseline' | 'detection' | 'recovery',
    timeoutMs: number,
    lastStatus: ReadinessStatus | undefined,
  ) {
    super(
      `${phase}: the probe did not reach the expected status within ${timeoutMs} ms (last status ${lastStatus ?? 'none'})`,
    );
    this.phase = phase;
    this.timeoutMs = timeoutMs;
  }
}

/**
 * The core of a failover drill: waits for `ok`, cuts the dependency, measures until the probe
 * says `fail` (detection), restores it, measures until `ok` again (recovery).
 *
 * @example const { detectionSeconds, recoverySeconds } = await measureOutage({ probe, cut: () => proxy.cut(), restore: () => proxy.restore(), pollIntervalMs: 250, timeoutMs: 60_000 });
 */
export async function measureOutage(options: MeasureOutageOptions): Promise<OutageMeasurement> {
  const now = options.now ?? (() => performance.now());
  await until('baseline', options, (status) => status === 'ok', now);
  const cutAt = now();
  await options.cut();
  await until('detection', options, (status) => status === 'fail', now);
  const detectedAt = now();
  await options.restore();
  await until('recovery', options, (status) => status === 'ok', now);
  const recoveredAt = now();
  return {
    detectionSeconds: Math.round(detectedAt - cutAt) / 1000,
    recoverySeconds: Math.round(recoveredAt - detectedAt) / 1000,
  };
}

async function until(
  phase: 'baseline' | 'detection' | 'recovery',
  options: MeasureOutageOptions,
  reached: (status: ReadinessStatus) => boolean,
  now: () => number,
): Promise<void> {
  const deadline = now() + options.timeoutMs;
  let last: ReadinessStatus | undefined;
  for (;;) {
    last = await options.probe();
    if (reached(last)) return;
    if (now() >= deadline) throw new OutageNotObservedError(phase, options.timeoutMs, last);
    await new Promise((resolve) => setTimeout(resolve, options.pollIntervalMs));
  }
}
