import { describe, expect, it } from 'vitest';
import { assetClassOf } from './asset-class.ts';
import { CalendarRangeError } from './calendar-range-error.ts';
import { expectedBarTimes, tradingSessions } from './trading-calendar.ts';

const iso = (ms: number): string => new Date(ms).toISOString();

describe('fx-24x5', () => {
  it('opens Sunday 22:00 UTC and closes Friday 22:00 UTC: 7,200 one-minute bars a week', () => {
    const times = expectedBarTimes(
      'fx-24x5',
      '1m',
      new Date('2026-11-13T00:00:00Z'),
      new Date('2026-11-23T00:00:00Z'),
    );
    // Friday 13 Nov 00:00-22:00 (1,320) + the week of 16-20 Nov (7,200) + Sunday 22 Nov 22:00-24:00 (120)
    expect(times).toHaveLength(1320 + 7200 + 120);
    expect(times).not.toContain(Date.parse('2026-11-13T22:00:00Z'));
    expect(times).toContain(Date.parse('2026-11-13T21:59:00Z'));
    expect(times).not.toContain(Date.parse('2026-11-15T21:59:00Z'));
    expect(times).toContain(Date.parse('2026-11-15T22:00:00Z'));
    expect(new Set(times).size).toBe(times.length);
  });

  it('stamps daily bars 00:00 UTC Monday to Friday', () => {
    const times = expectedBarTimes(
      'fx-24x5',
      '1d',
      new Date('2026-11-14T00:00:00Z'),
      new Date('2026-11-28T00:00:00Z'),
    );
    expect(times.map(iso)).toEqual([
      '2026-11-16T00:00:00.000Z',
      '2026-11-17T00:00:00.000Z',
      '2026-11-18T00:00:00.000Z',
      '2026-11-19T00:00:00.000Z',
      '2026-11-20T00:00:00.000Z',
      '2026-11-23T00:00:00.000Z',
      '2026-11-24T00:00:00.000Z',
      '2026-11-25T00:00:00.000Z',
      '2026-11-26T00:00:00.000Z',
      '2026-11-27T00:00:00.000Z',
    ]);
  });

  it('has no dates it refuses', () => {
    expect(expectedBarTimes('fx-24x5', '1d', new Date('1999-01-01'), new Date('1999-02-01'))).toHaveLength(
      21,
    );
  });
});

describe('nyse', () => {
  it('follows New York DST: 14:30-21:00 UTC in winter, 13:30-20:00 UTC in summer', () => {
    const [winter] = tradingSessions('nyse', new Date('2026-01-05'), new Date('2026-01-06'));
    const [summer] = tradingSessions('nyse', new Date('2026-07-06'), new Date('2026-07-07'));
    expect(winter && [iso(winter.open), iso(winter.close)]).toEqual([
      '2026-01-05T14:30:00.000Z',
      '2026-01-05T21:00:00.000Z',
    ]);
    expect(summer && [iso(summer.open), iso(summer.close)]).toEqual([
      '2026-07-06T13:30:00.000Z',
      '2026-07-06T20:00:00.000Z',
    ]);
  });

  it('skips holidays and weekends and shortens early closes', () => {
    const week = tradingSessions('nyse', new Date('2026-11-23'), new Date('2026-11-30'));
    expect(week.map((s) => s.date)).toEqual(['2026-11-23', '2026-11-24', '2026-11-25', '2026-11-27']);
    const dayAfterThanksgiving = week.at(-1);
    expect(dayAfterThanksgiving && iso(dayAfterThanksgiving.close)).toBe('2026-11-27T18:00:00.000Z');
    const minutes = expectedBarTimes('nyse', '1m', new Date('2026-11-23'), new Date('2026-11-30'));
    expect(minutes).toHaveLength(3 * 390 + 210);
  });

  it('knows the observed holidays and the 2025 unscheduled closure', () => {
    const dates = (from: string, to: string): string[] =>
      tradingSessions('nyse', new Date(from), new Date(to)).map((s) => s.date);
    expect(dates('2026-07-01', '2026-07-07')).toEqual(['2026-07-01', '2026-07-02', '2026-07-06']);
    expect(dates('2025-01-08', '2025-01-11')).toEqual(['2025-01-08', '2025-01-10']);
    expect(dates('2027-12-22', '2027-12-28')).toEqual(['2027-12-22', '2027-12-23', '2027-12-27']);
    expect(dates('2027-03-25', '2027-03-30')).toEqual(['2027-03-25', '2027-03-29']);
  });

  it('has 251-252 sessions a year', () => {
    const count = (year: number): number =>
      tradingSessions('nyse', new Date(`${year}-01-01`), new Date(`${year + 1}-01-01`)).length;
    expect([2024, 2025, 2026, 2027].map(count)).toEqual([252, 250, 251, 251]);
  });

  it('includes the partial 13:00 UTC bucket of a 13:30 open in hourly bars', () => {
    const hours = expectedBarTimes('nyse', '1h', new Date('2026-07-06'), new Date('2026-07-07'));
    expect(hours.map(iso)).toEqual([13, 14, 15, 16, 17, 18, 19].map((h) => `2026-07-06T${h}:00:00.000Z`));
  });

  it('refuses years without an official holiday list instead of guessing', () => {
    expect(() => expectedBarTimes('nyse', '1d', new Date('2028-01-03'), new Date('2028-01-10'))).toThrow(
      CalendarRangeError,
    );
  });

  it('expects weekly and monthly bars at their aligned open when the period has a session', () => {
    const weeks = expectedBarTimes('nyse', '1wk', new Date('2026-11-01'), new Date('2026-12-01'));
    expect(weeks.map(iso)).toEqual(
      ['2026-11-02', '2026-11-09', '2026-11-16', '2026-11-23', '2026-11-30'].map((d) => `${d}T00:00:00.000Z`),
    );
    const months = expectedBarTimes('fx-24x5', '1mo', new Date('2026-01-01'), new Date('2026-04-01'));
    expect(months.map(iso)).toEqual([
      '2026-01-01T00:00:00.000Z',
      '2026-02-01T00:00:00.000Z',
      '2026-03-01T00:00:00.000Z',
    ]);
  });

  it('counts a 4h bucket that overlaps the Sunday 22:00 open', () => {
    const fourHours = expectedBarTimes(
      'fx-24x5',
      '4h',
      new Date('2026-11-20T00:00:00Z'),
      new Date('2026-11-23T00:00:00Z'),
    );
    expect(fourHours.map(iso)).toEqual([
      ...[0, 4, 8, 12, 16, 20].map((h) => `2026-11-20T${String(h).padStart(2, '0')}:00:00.000Z`),
      '2026-11-22T20:00:00.000Z',
    ]);
  });

  it('returns nothing for an empty or reversed window', () => {
    expect(expectedBarTimes('nyse', '1m', new Date('2026-11-24'), new Date('2026-11-24'))).toEqual([]);
    expect(expectedBarTimes('nyse', '1m', new Date('2026-11-25'), new Date('2026-11-24'))).toEqual([]);
  });
});

describe('assetClassOf', () => {
  it('classifies currency pairs as fx, anything else as equity, and honours overrides', () => {
    expect(assetClassOf('EURUSD')).toBe('fx');
    expect(assetClassOf('usdjpy')).toBe('fx');
    expect(assetClassOf('SPY')).toBe('equity');
    expect(assetClassOf('GOOGLE')).toBe('equity');
    expect(assetClassOf('XAUUSD')).toBe('fx');
    expect(assetClassOf('ABCDEF', { ABCDEF: 'fx' })).toBe('fx');
    expect(assetClassOf('EURUSD', { EURUSD: 'equity' })).toBe('equity');
  });
});
