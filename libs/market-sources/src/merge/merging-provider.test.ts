import { describe, expect, it } from 'vitest';
import type { BarRequest, MarketDataProvider, UnvalidatedBar, UnvalidatedBarBatch } from '../types.ts';
import { AllSourcesFailedError } from './all-sources-failed-error.ts';
import { createMergingProvider } from './merging-provider.ts';

const bar = (source: string, symbol: string, day: number, close: number): UnvalidatedBar => ({
  symbol,
  timeframe: '1d',
  ts: `2026-11-${String(day).padStart(2, '0')}T00:00:00Z`,
  open: close,
  high: close,
  low: close,
  close,
  volume: null,
  source,
});

/** An in-process source serving fixed rows per symbol, and remembering what it was asked. */
function source(
  name: string,
  rows: UnvalidatedBar[],
  behaviour: { failFor?: string; rejectLine?: boolean } = {},
): MarketDataProvider & { asked: BarRequest[] } {
  const asked: BarRequest[] = [];
  return {
    name,
    asked,
    async *fetchBars(request) {
      asked.push(request);
      await Promise.resolve();
      const mine = rows.filter((row) => request.symbols.includes(row.symbol));
      // A half answer first, so a later failure proves the half is dropped.
      yield { source: name, rows: mine.slice(0, 1), rejections: [] };
      if (request.symbols.includes(behaviour.failFor ?? '')) {
        throw Object.assign(new Error(`${name} is down`), { retriable: true });
      }
      yield {
        source: name,
        rows: mine.slice(1),
        rejections:
          behaviour.rejectLine === true
            ? [{ source: name, location: `${name}:3`, line: 3, reason: 'unparsable_number', detail: 'x' }]
            : [],
      };
    },
  };
}

async function drain(provider: MarketDataProvider, symbols: string[]): Promise<UnvalidatedBarBatch[]> {
  const batches: UnvalidatedBarBatch[] = [];
  for await (const batch of provider.fetchBars({ symbols, timeframe: '1d', from: new Date('2026-11-16') })) {
    batches.push(batch);
  }
  return batches;
}

describe('createMergingProvider', () => {
  it('asks every source, takes each bar from the most trusted one, fills gaps from the others and counts drift', async () => {
    const primary = source('primary', [
      bar('primary', 'EURUSD', 16, 1.1),
      bar('primary', 'EURUSD', 17, 1.2),
      bar('primary', 'EURUSD', 19, 1.3),
    ]);
    const secondary = source(
      'secondary',
      [
        bar('secondary', 'EURUSD', 16, 1.1004), // 0.04 %: agrees
        bar('secondary', 'EURUSD', 17, 1.25), // 4.2 %: drift
        bar('secondary', 'EURUSD', 18, 1.22), // only here: fills the gap
      ],
      { rejectLine: true },
    );
    const provider = createMergingProvider([primary, secondary], { driftThreshold: 0.005 });
    expect(provider.name).toBe('merge(primary+secondary)');

    const batches = await drain(provider, ['EURUSD']);
    expect(batches).toHaveLength(1);
    const [batch] = batches;
    expect(batch?.rows.map((row) => [row.ts.slice(0, 10), row.source, row.close])).toEqual([
      ['2026-11-16', 'primary', 1.1],
      ['2026-11-17', 'primary', 1.2],
      ['2026-11-18', 'secondary', 1.22],
      ['2026-11-19', 'primary', 1.3],
    ]);
    // The secondary's malformed line is still counted, whoever won the bars.
    expect(batch?.rejections.map((r) => r.location)).toEqual(['secondary:3']);
    expect(batch?.merge).toMatchObject({
      sources: ['primary', 'secondary'],
      rowsBySource: { primary: 3, secondary: 1 },
      superseded: 2,
      driftCount: 1,
      failed: [],
    });
    expect(batch?.merge?.drift[0]).toMatchObject({
      ts: '2026-11-17T00:00:00Z',
      chosen: { source: 'primary', close: 1.2 },
      other: { source: 'secondary', close: 1.25 },
    });
    expect(primary.asked.map((r) => r.symbols)).toEqual([['EURUSD']]);
    expect(secondary.asked.map((r) => r.symbols)).toEqual([['EURUSD']]);
  });

  it('merges per symbol: a source failing for one symbol is left out (its half answer dropped) and reported', async () => {
    const primary = source(
      'primary',
      [
        bar('primary', 'EURUSD', 16, 1.1),
        bar('primary', 'EURUSD', 17, 1.2),
        bar('primary', 'GBPUSD', 16, 1.3),
      ],
      { failFor: 'EURUSD' },
    );
    const secondary = source('secondary', [
      bar('secondary', 'EURUSD', 16, 1.0),
      bar('secondary', 'GBPUSD', 16, 1.3),
    ]);
    const failures: string[] = [];
    const provider = createMergingProvider([primary, secondary], {
      onSourceFailure: (failure) => failures.push(`${failure.provider}:${failure.symbols.join(',')}`),
    });
    const [eurusd, gbpusd] = await drain(provider, ['EURUSD', 'GBPUSD']);
    // Primary yielded EURUSD 16 at 1.1 before failing: that half answer must not win.
    expect(eurusd?.rows.map((row) => [row.symbol, row.source, row.close])).toEqual([
      ['EURUSD', 'secondary', 1.0],
    ]);
    expect(eurusd?.merge?.failed.map((f) => [f.provider, f.symbols, f.error.message])).toEqual([
      ['primary', ['EURUSD'], 'primary is down'],
    ]);
    expect(eurusd?.merge?.driftCount).toBe(0);
    expect(gbpusd?.rows.map((row) => row.source)).toEqual(['primary']);
    expect(gbpusd?.merge).toMatchObject({ failed: [], superseded: 1, driftCount: 0 });
    expect(failures).toEqual(['primary:EURUSD']);
  });

  it('fails the symbol with every error when every source fails', async () => {
    const provider = createMergingProvider([
      source('primary', [], { failFor: 'EURUSD' }),
      source('secondary', [], { failFor: 'EURUSD' }),
    ]);
    const error = await drain(provider, ['EURUSD']).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(AllSourcesFailedError);
    expect(error).toMatchObject({ symbols: ['EURUSD'], retriable: true });
    expect((error as AllSourcesFailedError).failures.map((f) => f.provider)).toEqual([
      'primary',
      'secondary',
    ]);
  });

  it('does not treat the caller’s abort as a source failure', async () => {
    const controller = new AbortController();
    const aborting: MarketDataProvider = {
      name: 'aborting',
      async *fetchBars() {
        await Promise.resolve();
        controller.abort(new Error('shutting down'));
        yield* [];
        throw new Error('aborted');
      },
    };
    const provider = createMergingProvider([
      aborting,
      source('secondary', [bar('secondary', 'EURUSD', 16, 1)]),
    ]);
    const batches = provider.fetchBars(
      { symbols: ['EURUSD'], timeframe: '1d', from: new Date('2026-11-16') },
      controller.signal,
    );
    await expect(batches[Symbol.asyncIterator]().next()).rejects.toThrow('shutting down');
  });

  it('refuses a single source and the same source twice', () => {
    const a = source('csv', []);
    expect(() => createMergingProvider([a])).toThrow(/at least two/);
    expect(() => createMergingProvider([a, source('csv', [])])).toThrow(/listed twice/);
  });
});
