import { describe, expect, it } from 'vitest';
import { InvalidStorageOptionsError } from './errors.ts';
import { resolveStorageOptions } from './storage-options.ts';

describe('resolveStorageOptions', () => {
  it('keeps bar retention per contract timeframe next to the defaults', () => {
    const options = resolveStorageOptions({ retentionDays: { bars: { '4h': 365 } } });
    expect(options.retentionDays.bars).toMatchObject({ '1m': 30, '4h': 365, '1d': 36_500 });
  });

  it('refuses a retention key that is no bar timeframe, naming the path', () => {
    const refused = () => resolveStorageOptions({ retentionDays: { bars: { '2h': 5 } } });
    expect(refused).toThrow(InvalidStorageOptionsError);
    expect(refused).toThrow(/^storage\.retentionDays\.bars\.2h: is not one of the bar contract's timeframes/);
  });

  it('refuses a retention that is not a whole number of days', () => {
    expect(() => resolveStorageOptions({ retentionDays: { ticks: 1.5 } })).toThrow(
      /^storage\.retentionDays\.ticks: /,
    );
  });
});
