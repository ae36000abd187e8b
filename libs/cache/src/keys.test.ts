import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { parseEnvelope } from './envelope.ts';
import { InvalidCacheRequestError } from './errors/invalid-cache-request-error.ts';
import { CacheKeys, entriesOfSymbol, entryOf } from './keys.ts';

describe('key layout', () => {
  it('builds deterministic keys from namespace, dataset, version tag and entry', () => {
    const keys = new CacheKeys('backbone:');
    expect(keys.value('latest-bar', '0.3', 'EURUSD:1m')).toBe(
      'backbone:cache:slice:latest-bar:0.3:EURUSD:1m',
    );
    expect(keys.lock('rollups', '1.0', 'EURUSD:1h')).toBe('backbone:cache:lock:rollups:1.0:EURUSD:1h');
    expect(keys.lru('recent-bars')).toBe('backbone:cache:lru:recent-bars');
    expect(keys.versions).toBe('backbone:cache:versions');
  });

  it('names entries by symbol and timeframe, and refuses anything else', () => {
    expect(entryOf({ dataset: 'recent-bars', symbol: 'BRK.B', timeframe: '1d' })).toBe('BRK.B:1d');
    expect(entryOf({ dataset: 'macro-calendar', symbol: 'ALL' })).toBe('ALL');
    const bad = [
      { dataset: 'latest-bar', symbol: 'eurusd', timeframe: '1m' },
      { dataset: 'latest-bar', symbol: 'EUR*', timeframe: '1m' },
      { dataset: 'latest-bar', symbol: 'EURUSD', timeframe: '2m' },
      { dataset: 'rollups', symbol: 'EURUSD', timeframe: '5m' },
      { dataset: 'macro-calendar', symbol: 'EURUSD' },
      { dataset: 'macro-calendar', symbol: 'USD', timeframe: '1m' },
      { dataset: 'ticks', symbol: 'EURUSD' },
    ] as const;
    for (const request of bad) {
      expect(() => entryOf(request as never), JSON.stringify(request)).toThrow(InvalidCacheRequestError);
    }
  });
});

describe('entriesOfSymbol', () => {
  it('lists every timeframe a dataset serves for the symbol, or the symbol alone for the macro calendar', () => {
    expect(entriesOfSymbol('rollups', 'EURUSD')).toEqual(['EURUSD:1h', 'EURUSD:1d']);
    expect(entriesOfSymbol('latest-bar', 'EURUSD')).toContain('EURUSD:1wk');
    expect(entriesOfSymbol('macro-calendar', 'USD')).toEqual(['USD']);
    expect(() => entriesOfSymbol('latest-bar', 'EUR:USD')).toThrow(InvalidCacheRequestError);
  });
});

describe('parseEnvelope', () => {
  const envelope = {
    v: 1,
    dataset: 'latest-bar',
    entry: 'EURUSD:1m',
    maxTs: null,
    sourceRunId: null,
    loadedAt: '2026-11-26T15:30:00.000Z',
    freshUntil: 1,
    data: { close: 1.1 },
  };
  const schema = z.object({ close: z.number() });

  it('accepts a valid envelope of the expected dataset and entry', () => {
    expect(parseEnvelope(JSON.stringify(envelope), 'latest-bar', 'EURUSD:1m', schema)?.data).toEqual({
      close: 1.1,
    });
  });

  it('treats bad JSON, a wrong shape, wrong data or another entry as corrupt', () => {
    expect(parseEnvelope('{', 'latest-bar', 'EURUSD:1m', schema)).toBeUndefined();
    expect(
      parseEnvelope(JSON.stringify({ ...envelope, v: 2 }), 'latest-bar', 'EURUSD:1m', schema),
    ).toBeUndefined();
    expect(
      parseEnvelope(JSON.stringify({ ...envelope, data: { close: 'x' } }), 'latest-bar', 'EURUSD:1m', schema),
    ).toBeUndefined();
    expect(parseEnvelope(JSON.stringify(envelope), 'latest-bar', 'GBPUSD:1m', schema)).toBeUndefined();
  });
});
