import { describe, expect, it } from 'vitest';
import { parseIsoInstant } from './iso-instant.ts';

describe('parseIsoInstant', () => {
  it.each([
    ['2024-02-29', '2024-02-29T00:00:00.000Z', true],
    ['2024-02-29T13:30:00Z', '2024-02-29T13:30:00.000Z', false],
    ['2024-02-29T13:30Z', '2024-02-29T13:30:00.000Z', false],
    ['2026-11-01T10:00:00+01:00', '2026-11-01T09:00:00.000Z', false],
    ['2026-11-01T10:00:00-0530', '2026-11-01T15:30:00.000Z', false],
    ['2026-11-16T14:30:00.123456789Z', '2026-11-16T14:30:00.123Z', false],
    ['2000-02-29T23:59:59Z', '2000-02-29T23:59:59.000Z', false],
  ])('reads %s as %s', (text, iso, dateOnly) => {
    const result = parseIsoInstant(text);
    expect(result).toEqual({ ok: true, ms: Date.parse(iso), dateOnly });
  });

  it('refuses impossible dates and times with the field named instead of rolling them over', () => {
    expect(parseIsoInstant('2024-02-30')).toEqual({
      ok: false,
      kind: 'impossible',
      message: 'day 30 does not exist in February 2024',
    });
    expect(parseIsoInstant('2023-02-29T00:00:00Z')).toMatchObject({ ok: false, kind: 'impossible' });
    expect(parseIsoInstant('2100-02-29')).toMatchObject({ ok: false, kind: 'impossible' });
    expect(parseIsoInstant('2024-04-31T00:00:00Z')).toMatchObject({ ok: false, kind: 'impossible' });
    expect(parseIsoInstant('2024-13-01')).toEqual({
      ok: false,
      kind: 'impossible',
      message: 'month 13 does not exist',
    });
    expect(parseIsoInstant('2024-00-10')).toMatchObject({ ok: false, kind: 'impossible' });
    expect(parseIsoInstant('2024-01-00')).toMatchObject({ ok: false, kind: 'impossible' });
    const midnight = parseIsoInstant('2024-01-01T24:00:00Z');
    expect(midnight).toMatchObject({ ok: false, kind: 'impossible' });
    expect(midnight.ok ? '' : midnight.message).toMatch(/^hour 24 does not exist/);
    expect(parseIsoInstant('2024-01-01T23:60Z')).toMatchObject({ ok: false, kind: 'impossible' });
    expect(parseIsoInstant('2024-01-01T23:59:60Z')).toMatchObject({ ok: false, kind: 'impossible' });
    expect(parseIsoInstant('2024-01-01T10:00:00+24:00')).toMatchObject({ ok: false, kind: 'impossible' });
  });

  it('keeps years 0-99 as written (Date.UTC would read them as 1900-1999)', () => {
    expect(parseIsoInstant('0050-06-01')).toEqual({
      ok: true,
      ms: Date.parse('0050-06-01T00:00:00Z'),
      dateOnly: true,
    });
  });

  it.each([
    '',
    'yesterday',
    '2024-1-01',
    '2024-01-01T10:00:00',
    '2024-01-01 10:00:00Z',
    '2024-01-01T10:00:00ZZ',
    ' 2024-01-01',
  ])('calls %j unparsable', (text) => {
    expect(parseIsoInstant(text)).toMatchObject({ ok: false, kind: 'unparsable' });
  });
});
