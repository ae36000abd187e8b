import { describe, expect, it } from 'vitest';
import { TIMEFRAMES, alignTimestamp, isAligned, isTimeframe, nextBarOpen, timeframeMs } from './timeframe.ts';

const at = (iso: string) => new Date(iso);

describe('alignTimestamp', () => {
  it.each([
    ['1m', '2026-11-26T15:34:59.999Z', '2026-11-26T15:34:00.000Z'],
    ['5m', '2026-11-26T15:34:12Z', '2026-11-26T15:30:00.000Z'],
    ['15m', '2026-11-26T15:44:12Z', '2026-11-26T15:30:00.000Z'],
    ['30m', '2026-11-26T15:59:59Z', '2026-11-26T15:30:00.000Z'],
    ['1h', '2026-11-26T15:59:59Z', '2026-11-26T15:00:00.000Z'],
    ['4h', '2026-11-26T15:59:59Z', '2026-11-26T12:00:00.000Z'],
    ['1d', '2026-11-26T23:59:59Z', '2026-11-26T00:00:00.000Z'],
    ['1wk', '2026-11-29T23:59:59Z', '2026-11-23T00:00:00.000Z'], // Sunday -> Monday before
    ['1wk', '2026-11-23T00:00:00Z', '2026-11-23T00:00:00.000Z'], // a Monday stays
    ['1wk', '1970-01-01T00:00:00Z', '1969-12-29T00:00:00.000Z'], // before the epoch Thursday
    ['1mo', '2026-11-30T23:59:59Z', '2026-11-01T00:00:00.000Z'],
  ] as const)('%s: %s -> %s', (timeframe, ts, expected) => {
    expect(alignTimestamp(at(ts), timeframe).toISOString()).toBe(expected);
  });

  it('is idempotent for every timeframe', () => {
    for (const timeframe of TIMEFRAMES) {
      const aligned = alignTimestamp(at('2026-07-15T13:47:21.5Z'), timeframe);
      expect(isAligned(aligned, timeframe)).toBe(true);
      expect(alignTimestamp(aligned, timeframe)).toEqual(aligned);
    }
  });
});

describe('nextBarOpen', () => {
  it('steps by the duration, calendar-exact for months', () => {
    expect(nextBarOpen(at('2026-11-26T15:30:00Z'), '1m').toISOString()).toBe('2026-11-26T15:31:00.000Z');
    expect(nextBarOpen(at('2026-01-31T10:00:00Z'), '1mo').toISOString()).toBe('2026-02-01T00:00:00.000Z');
    expect(nextBarOpen(at('2026-12-15T00:00:00Z'), '1mo').toISOString()).toBe('2027-01-01T00:00:00.000Z');
    expect(nextBarOpen(at('2026-11-26T00:00:00Z'), '1wk').toISOString()).toBe('2026-11-30T00:00:00.000Z');
  });
});

describe('timeframeMs and isTimeframe', () => {
  it('gives every timeframe a positive duration, increasing with the timeframe', () => {
    const durations = TIMEFRAMES.map((timeframe) => timeframeMs[timeframe]);
    expect(durations).toEqual([...durations].sort((a, b) => a - b));
    expect(timeframeMs['5m']).toBe(300_000);
  });

  it('recognises only the fixed set', () => {
    expect(isTimeframe('1h')).toBe(true);
    expect(isTimeframe('2h')).toBe(false);
    expect(isTimeframe(60)).toBe(false);
  });
});
