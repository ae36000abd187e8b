export interface WaitForOptions {
  /** Give up after this many milliseconds. */
  timeoutMs?: number;
  /** Pause between two evaluations of the condition. */
  intervalMs?: number;
  /**
   * Named in the timeout error, so a failing test says what it was waiting for; a function is
   * called at the timeout, so the message can show the last state seen.
   */
  description?: string | (() => string);
}

/**
 * Evaluates `condition` until it returns a value other than `undefined`, `null` or `false`, and
 * returns that value. Tests wait on conditions, never on fixed sleeps.
 *
 * @example const row = await waitFor(async () => (await db.query(sql)).rows[0], { description: 'the bar row' });
 */
export async function waitFor<T>(
  condition: () => T | Promise<T>,
  { timeoutMs = 10_000, intervalMs = 25, description = 'condition' }: WaitForOptions = {},
): Promise<Exclude<T, undefined | null | false>> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await condition();
      if (value !== undefined && value !== null && value !== false) {
        return value as Exclude<T, undefined | null | false>;
      }
    } catch (error) {
      lastError = error;
    }
    if (Date.now() >= deadline) {
      const what = typeof description === 'function' ? description() : description;
      throw new Error(`waitFor: ${what} not met within ${timeoutMs} ms`, { cause: lastError });
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
