import { describe, expect, it } from 'vitest';
import { createRateLimiter } from './rate-limiter.ts';

describe('createRateLimiter', () => {
  it('lets the first caller through at once and spaces the next ones from the actual starts', async () => {
    const limiter = createRateLimiter(40);
    const starts: number[] = [];
    await Promise.all(
      [1, 2, 3, 4].map(async () => {
        await limiter.take();
        starts.push(performance.now());
      }),
    );
    const gaps = starts.slice(1).map((at, i) => at - (starts[i] ?? 0));
    for (const gap of gaps) expect(gap).toBeGreaterThanOrEqual(40);
  });

  it('drops an aborted caller without holding up the queue', async () => {
    const limiter = createRateLimiter(30);
    await limiter.take();
    const controller = new AbortController();
    const aborted = limiter.take(controller.signal);
    const next = limiter.take();
    controller.abort(new Error('gave up'));
    await expect(aborted).rejects.toThrow('gave up');
    await expect(next).resolves.toBeUndefined();
  });
});
