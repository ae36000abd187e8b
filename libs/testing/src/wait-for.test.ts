import { describe, expect, it } from 'vitest';
import { waitFor } from './wait-for.ts';

describe('waitFor', () => {
  it('returns the first truthy value of the condition', async () => {
    let calls = 0;
    const value = await waitFor(() => (++calls >= 3 ? `after ${calls}` : undefined), { intervalMs: 1 });
    expect(value).toBe('after 3');
  });

  it('names what it waited for when the time runs out, keeping the last error as cause', async () => {
    const failure = waitFor(
      () => {
        throw new Error('not yet');
      },
      { timeoutMs: 30, intervalMs: 5, description: 'the broker' },
    );
    await expect(failure).rejects.toThrow('waitFor: the broker not met within 30 ms');
    await expect(failure).rejects.toHaveProperty('cause.message', 'not yet');
  });

  it('calls a description function at the timeout, so the message shows the last state seen', async () => {
    let seen = 0;
    const failure = waitFor(() => ++seen > 1_000_000, {
      timeoutMs: 30,
      intervalMs: 5,
      description: () => `seen ${seen > 1 ? 'several' : 'one'} states`,
    });
    await expect(failure).rejects.toThrow('waitFor: seen several states not met within 30 ms');
  });
});
