import { describe, expect, it } from 'vitest';
import { FeedUsageError, parseFeedRequest, type UnvalidatedFeedRequest } from './request.ts';

const now = new Date('2026-11-26T15:34:12Z');
const valid: UnvalidatedFeedRequest = { symbols: 'eurusd, GBPUSD', rate: '100', duration: '3' };

function usageError(overrides: UnvalidatedFeedRequest): FeedUsageError {
  try {
    parseFeedRequest({ ...valid, ...overrides }, now);
  } catch (error) {
    if (error instanceof FeedUsageError) return error;
    throw error;
  }
  throw new Error('expected a FeedUsageError');
}

describe('parseFeedRequest', () => {
  it('fills defaults: 1m on market.bars.v1, seed 1, first bar early enough that the last one is past', () => {
    const request = parseFeedRequest(valid, now);
    expect(request).toMatchObject({
      symbols: ['EURUSD', 'GBPUSD'],
      ratePerSecond: 100,
      durationSeconds: 3,
      totalBars: 300,
      timeframe: '1m',
      topic: 'market.bars.v1',
      seed: 1,
      maxOutageSeconds: 120,
      unpaced: false,
    });
    // 150 bars per symbol, the last one opening at 15:33 at the latest.
    expect(request.start.toISOString()).toBe('2026-11-26T13:04:00.000Z');
  });

  it.each([
    [{ symbols: '' }, 'symbols', /at least one symbol/],
    [{ symbols: 'EURUSD,,GBPUSD' }, 'symbols', /empty entry/],
    [{ symbols: undefined }, 'symbols', /at least one symbol/],
    [{ symbols: 'EURUSD,EUR USD' }, 'symbols', /"EUR USD" is not a symbol/],
    [{ symbols: 'EURUSD,eurusd' }, 'symbols', /EURUSD is listed twice/],
    [{ rate: '0' }, 'rate', /not a number in/],
    [{ rate: '-5' }, 'rate', /not a number in/],
    [{ rate: 'fast' }, 'rate', /not a number in/],
    [{ rate: undefined }, 'rate', /is required/],
    [{ duration: 'NaN' }, 'duration', /not a number in/],
    [{ rate: '0.1', duration: '1' }, 'rate', /less than one bar/],
    [{ timeframe: '7m' }, 'timeframe', /unknown timeframe "7m"/],
    [{ topic: 'bad topic' }, 'topic', /must be/],
    [{ seed: '1.5' }, 'seed', /not an integer/],
    [{ batchSize: '0' }, 'batch-size', /not an integer/],
    [{ maxOutage: '-1' }, 'max-outage', /not an integer/],
    [{ start: '2026-11-26T10:00:00' }, 'start', /with a zone/],
    [{ start: '2026-11-26T15:00:00Z' }, 'start', /in the future/],
  ] as const)('rejects %o on --%s', (overrides, field, message) => {
    const error = usageError(overrides);
    expect(error.field).toBe(field);
    expect(error.message).toMatch(message);
    expect(error.message.startsWith(`--${field}: `)).toBe(true);
  });

  it('accepts an explicit start in the past', () => {
    const request = parseFeedRequest(
      { ...valid, start: '2026-01-05T00:00:00Z', seed: '42', maxOutage: '0', unpaced: true },
      now,
    );
    expect(request.maxOutageSeconds).toBe(0);
    expect(request.start.toISOString()).toBe('2026-01-05T00:00:00.000Z');
    expect(request.seed).toBe(42);
    expect(request.unpaced).toBe(true);
  });
});
