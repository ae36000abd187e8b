import { describe, expect, it } from 'vitest';
import { barRuleOptionsFromSettings, decodeBarMessage, encodeBarMessage, parseBar } from './bar.ts';
import type { BarRuleOptions } from './bar.ts';

const NOW = new Date('2026-11-26T15:31:00Z');
const rules: BarRuleOptions = { now: () => NOW, maxFutureSkewMs: 60_000 };

const valid = {
  symbol: 'EURUSD',
  timeframe: '1m',
  ts: '2026-11-26T15:30:00Z',
  open: 1.0841,
  high: 1.0846,
  low: 1.0839,
  close: 1.0844,
  volume: 1250,
  source: 'feed',
};

function reasonOf(unvalidated: unknown): string {
  const result = parseBar(unvalidated, rules);
  return result.ok ? 'ok' : result.reason;
}

describe('parseBar', () => {
  it('accepts the documented wire example and normalises ts to UTC', () => {
    expect(parseBar(valid, rules)).toEqual({ ok: true, bar: { ...valid, ts: '2026-11-26T15:30:00.000Z' } });
  });

  it('normalises a ts with an offset to UTC', () => {
    const result = parseBar({ ...valid, ts: '2026-11-26T17:30:00+02:00' }, rules);
    expect(result.ok && result.bar.ts).toBe('2026-11-26T15:30:00.000Z');
  });

  it('upper-cases a lower-case symbol', () => {
    const result = parseBar({ ...valid, symbol: 'eurusd=x' }, rules);
    expect(result.ok && result.bar.symbol).toBe('EURUSD=X');
  });

  it.each([
    ["EURUSD'; DROP TABLE", 'SQL in a symbol'],
    ['', 'an empty symbol'],
    ['A'.repeat(33), 'a 33-character symbol'],
    ['EUR USD', 'a space'],
    ['straße', 'non-ASCII letters'],
  ])('rejects %j (%s) with symbol_invalid', (symbol) => {
    const result = parseBar({ ...valid, symbol }, rules);
    expect(result).toMatchObject({ ok: false, reason: 'symbol_invalid', path: 'symbol' });
    expect(result.ok || result.message).toMatch(/^symbol: /);
  });

  it('accepts a 32-character symbol with every allowed punctuation mark', () => {
    expect(reasonOf({ ...valid, symbol: 'A_B.C=D-E'.padEnd(32, '9') })).toBe('ok');
  });

  it('rejects an unknown timeframe with timeframe_unknown', () => {
    expect(parseBar({ ...valid, timeframe: '2m' }, rules)).toMatchObject({
      ok: false,
      reason: 'timeframe_unknown',
      path: 'timeframe',
    });
  });

  it.each([
    ['2026-11-26T15:30:00', 'no zone'],
    ['2026-11-26', 'a date only'],
    ['26/11/2026 15:30', 'not ISO-8601'],
    ['2026-02-30T00:00:00Z', 'an impossible date'],
  ])('rejects ts %j (%s) with ts_invalid', (ts) => {
    expect(parseBar({ ...valid, ts }, rules)).toMatchObject({ ok: false, reason: 'ts_invalid', path: 'ts' });
  });

  it('rejects an unaligned 1m ts with ts_unaligned', () => {
    expect(parseBar({ ...valid, ts: '2026-11-26T15:30:01Z' }, rules)).toMatchObject({
      ok: false,
      reason: 'ts_unaligned',
      path: 'ts',
    });
  });

  it('rejects a 1d ts that is not at midnight UTC, even when midnight in its own zone', () => {
    expect(reasonOf({ ...valid, timeframe: '1d', ts: '2026-11-26T00:00:00+02:00' })).toBe('ts_unaligned');
    expect(reasonOf({ ...valid, timeframe: '1d', ts: '2026-11-26T00:00:00Z' })).toBe('ok');
  });

  it('aligns 1wk to Monday and 1mo to the 1st', () => {
    expect(reasonOf({ ...valid, timeframe: '1wk', ts: '2026-11-23T00:00:00Z' })).toBe('ok'); // a Monday
    expect(reasonOf({ ...valid, timeframe: '1wk', ts: '2026-11-22T00:00:00Z' })).toBe('ts_unaligned');
    expect(reasonOf({ ...valid, timeframe: '1mo', ts: '2026-11-01T00:00:00Z' })).toBe('ok');
    expect(reasonOf({ ...valid, timeframe: '1mo', ts: '2026-11-02T00:00:00Z' })).toBe('ts_unaligned');
  });

  it('accepts a ts exactly at the allowed skew and rejects one millisecond beyond it', () => {
    const atSkew: BarRuleOptions = { now: () => new Date('2026-11-26T15:29:00Z'), maxFutureSkewMs: 60_000 };
    expect(parseBar(valid, atSkew).ok).toBe(true);
    const beyond: BarRuleOptions = {
      now: () => new Date('2026-11-26T15:28:59.999Z'),
      maxFutureSkewMs: 60_000,
    };
    expect(parseBar(valid, beyond)).toMatchObject({ ok: false, reason: 'ts_in_future', path: 'ts' });
  });

  it('finding 1.1: a ts in year 0 or before the configured earliest time is ts_out_of_range, the earliest itself is accepted', () => {
    // Year 0 parses as ISO-8601 but PostgreSQL's timestamptz refuses it (no year 0).
    expect(parseBar({ ...valid, ts: '0000-01-01T00:00:00Z' }, rules)).toMatchObject({
      ok: false,
      reason: 'ts_out_of_range',
      path: 'ts',
    });
    expect(reasonOf({ ...valid, ts: '1969-12-31T23:59:00Z' })).toBe('ts_out_of_range');
    expect(reasonOf({ ...valid, ts: '1970-01-01T00:00:00Z' })).toBe('ok');
    const since2000 = barRuleOptionsFromSettings(
      { maxFutureSkewSeconds: 60, minBarTimestamp: '2000-01-01T00:00:00Z' },
      () => NOW,
    );
    expect(parseBar({ ...valid, ts: '1999-12-31T23:59:00Z' }, since2000)).toMatchObject({
      reason: 'ts_out_of_range',
    });
    expect(parseBar({ ...valid, ts: '2000-01-01T00:00:00Z' }, since2000).ok).toBe(true);
  });

  it('issue 14 §1 (held before): a ts in year 10000 is refused (not four-digit ISO-8601, or in the future)', () => {
    expect(reasonOf({ ...valid, ts: '+010000-01-01T00:00:00Z' })).toBe('ts_invalid');
    expect(reasonOf({ ...valid, ts: '9999-12-31T23:59:00Z' })).toBe('ts_in_future');
  });

  it('issue 14 §1 (held before): numbers beyond a double (1e400 in JSON) are not finite; the largest double fits the float8 columns', () => {
    expect(
      decodeBarMessage(Buffer.from(JSON.stringify(valid).replace('"high":1.0846', '"high":1e400')), rules),
    ).toMatchObject({ ok: false, reason: 'price_not_finite', path: 'high' });
    expect(
      decodeBarMessage(Buffer.from(JSON.stringify(valid).replace('"volume":1250', '"volume":1e400')), rules),
    ).toMatchObject({ ok: false, reason: 'volume_not_finite' });
    expect(reasonOf({ ...valid, high: Number.MAX_VALUE, volume: Number.MAX_VALUE })).toBe('ok');
  });

  it('issue 14 §1 (held before): a NUL or another control character in a text field, or a symbol longer than 32, is refused', () => {
    expect(reasonOf({ ...valid, symbol: 'EUR\u0000USD' })).toBe('symbol_invalid');
    expect(reasonOf({ ...valid, source: 'feed\u0000' })).toBe('source_invalid');
    expect(reasonOf({ ...valid, source: 'feed\n' })).toBe('source_invalid');
    expect(reasonOf({ ...valid, symbol: 'A'.repeat(33) })).toBe('symbol_invalid');
  });

  it('barRuleOptionsFromSettings names an unusable minBarTimestamp', () => {
    expect(() =>
      barRuleOptionsFromSettings({ maxFutureSkewSeconds: 0, minBarTimestamp: 'yesterday' }),
    ).toThrow(/minBarTimestamp: yesterday/);
  });

  it.each([
    ['open', Number.NaN],
    ['high', Number.POSITIVE_INFINITY],
    ['low', Number.NEGATIVE_INFINITY],
    ['close', Number.NaN],
  ])('rejects %s = %s with price_not_finite', (field, value) => {
    expect(parseBar({ ...valid, [field]: value }, rules)).toMatchObject({
      ok: false,
      reason: 'price_not_finite',
      path: field,
    });
  });

  it.each(['open', 'high', 'low', 'close'])('rejects %s = 0 with price_not_positive', (field) => {
    expect(reasonOf({ ...valid, open: 1, high: 1, low: 1, close: 1, [field]: 0 })).toBe('price_not_positive');
  });

  it('rejects high < low with ohlc_inconsistent', () => {
    expect(parseBar({ ...valid, high: 1.08, low: 1.09 }, rules)).toMatchObject({
      ok: false,
      reason: 'ohlc_inconsistent',
    });
  });

  it('rejects a body outside the range, naming the field', () => {
    expect(parseBar({ ...valid, low: 1.0842 }, rules)).toMatchObject({
      reason: 'ohlc_inconsistent',
      path: 'low',
    });
    expect(parseBar({ ...valid, high: 1.0843 }, rules)).toMatchObject({
      reason: 'ohlc_inconsistent',
      path: 'high',
    });
  });

  it('accepts a flat bar where every price is equal', () => {
    expect(reasonOf({ ...valid, open: 2, high: 2, low: 2, close: 2 })).toBe('ok');
  });

  it('rejects negative volume with volume_negative and accepts zero', () => {
    expect(parseBar({ ...valid, volume: -1 }, rules)).toMatchObject({
      reason: 'volume_negative',
      path: 'volume',
    });
    expect(reasonOf({ ...valid, volume: 0 })).toBe('ok');
  });

  it('rejects non-finite volume with volume_not_finite', () => {
    expect(reasonOf({ ...valid, volume: Number.POSITIVE_INFINITY })).toBe('volume_not_finite');
  });

  it('rejects an invalid source with source_invalid', () => {
    expect(reasonOf({ ...valid, source: '' })).toBe('source_invalid');
  });

  it.each([
    [null, 'null'],
    [[valid], 'an array'],
    ['EURUSD', 'a string'],
    [{ ...valid, symbol: undefined }, 'a missing field'],
    [{ ...valid, open: '1.0841' }, 'a price as a string'],
    [{ ...valid, extra: 1 }, 'an unknown field'],
  ])('rejects %j (%s) with shape_invalid', (unvalidated, _case) => {
    expect(reasonOf(unvalidated)).toBe('shape_invalid');
  });

  it('uses the default clock and skew when no options are given', () => {
    expect(parseBar({ ...valid, ts: '2020-01-01T00:00:00Z' }).ok).toBe(true);
    expect(parseBar({ ...valid, ts: '2999-01-01T00:00:00Z' })).toMatchObject({ reason: 'ts_in_future' });
  });
});

describe('decodeBarMessage', () => {
  it('decodes a UTF-8 JSON value', () => {
    const result = decodeBarMessage(Buffer.from(JSON.stringify(valid)), rules);
    expect(result.ok && result.bar.symbol).toBe('EURUSD');
  });

  it.each([
    [null, 'a tombstone'],
    [Buffer.from('not json'), 'text'],
    [Buffer.from('{"symbol":'), 'truncated JSON'],
    [Buffer.from([0xff, 0xfe, 0x00]), 'invalid UTF-8'],
  ])('rejects %s (%s) with not_json', (value, _case) => {
    expect(decodeBarMessage(value, rules)).toMatchObject({ ok: false, reason: 'not_json', path: '' });
  });

  it('rejects a JSON number that overflows to Infinity with price_not_finite', () => {
    const text = JSON.stringify(valid).replace('"high":1.0846', '"high":1e999');
    expect(decodeBarMessage(Buffer.from(text), rules)).toMatchObject({
      reason: 'price_not_finite',
      path: 'high',
    });
  });

  it('round-trips through encodeBarMessage with key = symbol', () => {
    const parsed = parseBar({ ...valid, symbol: 'gbpusd' }, rules);
    if (!parsed.ok) throw new Error(parsed.message);
    const message = encodeBarMessage(parsed.bar);
    expect(message.key.toString('utf8')).toBe('GBPUSD');
    expect(decodeBarMessage(message.value, rules)).toEqual({ ok: true, bar: parsed.bar });
  });
});
