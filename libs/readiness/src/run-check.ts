import { redactText } from '@backbone/config';
import type { CheckOutcome, CheckResult } from './check.ts';

/** Thrown into a probe's signal when it ran past its timeout. */
export class ProbeTimeoutError extends Error {
  override readonly name = 'ProbeTimeoutError';
  readonly check: string;
  readonly timeoutMs: number;
  constructor(check: string, timeoutMs: number) {
    super(`${check} did not answer within ${timeoutMs} ms`);
    this.check = check;
    this.timeoutMs = timeoutMs;
  }
}

/** What a probe function receives: a signal aborted at the timeout, to stop pending work. */
export interface ProbeContext {
  signal: AbortSignal;
}

/** One named check of a component: a live probe that turns measurements into an outcome. */
export interface CheckDefinition {
  name: string;
  component: string;
  run(context: ProbeContext): Promise<CheckOutcome>;
}

/**
 * Runs a check with a timeout. A check that throws or does not answer in time is `fail` with the
 * (redacted) error as its reason: a probe that cannot answer is never `ok` by default.
 *
 * @example const result = await runCheck({ name: 'redis.ping', component: 'redis', run: pingRedis }, 2000);
 */
export async function runCheck(
  definition: CheckDefinition,
  timeoutMs: number,
  now: () => Date = () => new Date(),
): Promise<CheckResult> {
  const started = performance.now();
  const checkedAt = now().toISOString();
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const error = new ProbeTimeoutError(definition.name, timeoutMs);
      controller.abort(error);
      reject(error);
    }, timeoutMs);
  });
  let outcome: CheckOutcome;
  try {
    outcome = await Promise.race([definition.run({ signal: controller.signal }), timeout]);
  } catch (error) {
    const timedOut = error instanceof ProbeTimeoutError;
    const detail = redactText(error instanceof Error ? error.message : String(error));
    outcome = {
      status: 'fail',
      reason: timedOut ? 'probe_timeout' : 'probe_error',
      message: timedOut
        ? `${definition.component} did not answer the ${definition.name} probe within ${timeoutMs} ms; check that it is up and reachable.`
        : `The ${definition.name} probe of ${definition.component} failed: ${detail}; check that it is up and reachable.`,
      evidence: { error: detail, timeoutMs },
    };
  } finally {
    clearTimeout(timer);
  }
  return {
    ...outcome,
    name: definition.name,
    component: definition.component,
    checkedAt,
    latencyMs: Math.round((performance.now() - started) * 10) / 10,
  };
}
