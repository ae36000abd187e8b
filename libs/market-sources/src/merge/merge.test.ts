import { afterEach, describe, expect, it } from 'vitest';
import { createCsvProvider } from '../providers/csv-provider.ts';
import { createYahooProvider } from '../providers/yahoo-provider.ts';
import { startReplayServer, type ReplayServer } from '../test-support/replay-server.ts';
import type { MarketDataProvider, ProviderFailure, UnvalidatedBar, UnvalidatedBarBatch } from '../types.ts';
import { AllSourcesFailedError } from './all-sources-failed-error.ts';
import { createFailoverProvider } from './failover-provider.ts';
import { mergeBarsByPriority } from './merge-bars.ts';

const bar = (source: string, ts: string, close: number | null, symbol = 'EURUSD'): UnvalidatedBar => ({
  symbol,
  timeframe: '1d',
  ts,
  open: close,
  high: close,
  low: close,
  close,
  volume: null,
  source,
});

describe('mergeBarsByPriority', () => {
  it('takes each bar from the most trusted source that has it and reports drift above the threshold', () => {
    const result = mergeBarsByPriority(
      [
        {
          source: 'yahoo',
          rows: [bar('yahoo', '2026-11-17T00:00:00Z', 1.1), bar('yahoo', '2026-11-18T00:00:00Z', null)],
        },
        {
          source: 'csv',
          rows: [
            bar('csv', '2026-11-16T00:00:00Z', 1.0),
            bar('csv', '2026-11-17T00:00:00.000Z', 1.1011), // 0.1 %: within threshold
            bar('csv', '2026-11-18T00:00:00Z', 1.2),
            bar('csv', '2026-11-17T00:00:00Z', 1.2, 'GBPUSD'),
          ],
        },
        { source: 'feed', rows: [bar('feed', '2026-11-17T00:00:00Z', 1.13)] }, // 2.7 %: drift
      ],
      { driftThreshold: 0.005 },
    );
    expect(result.rows.map((r) => [r.symbol, r.ts, r.source])).toEqual([
      ['EURUSD', '2026-11-16T00:00:00Z', 'csv'],
      ['EURUSD', '2026-11-17T00:00:00Z', 'yahoo'],
      ['GBPUSD', '2026-11-17T00:00:00Z', 'csv'],
      ['EURUSD', '2026-11-18T00:00:00Z', 'csv'], // yahoo's row had no close
    ]);
    expect(result.rowsBySource).toEqual({ yahoo: 1, csv: 3, feed: 0 });
    expect(result.driftCount).toBe(1);
    expect(result.drift[0]).toMatchObject({
      symbol: 'EURUSD',
      ts: '2026-11-17T00:00:00Z',
      chosen: { source: 'yahoo', close: 1.1 },
      other: { source: 'feed', close: 1.13 },
    });
    expect(result.drift[0]?.relativeDifference).toBeCloseTo(0.02727, 4);
  });

  it('refuses the same source twice', () => {
    expect(() =>
      mergeBarsByPriority([
        { source: 'csv', rows: [] },
        { source: 'csv', rows: [] },
      ]),
    ).toThrow(/listed twice/);
  });
});

describe('createFailoverProvider', () => {
  let server: ReplayServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  const fixtures = new URL('../../../../fixtures/bars/', import.meta.url).pathname;

  it('fails over from a failing Yahoo to a DIFFERENT source (csv) for the symbols Yahoo could not serve', async () => {
    server = await startReplayServer(['yahoo/eurusd-1d.json', 'yahoo/maintenance-503.json']);
    const yahoo = createYahooProvider({
      baseUrl: server.url,
      now: () => new Date('2026-11-20T23:00:00Z'),
      http: { retries: 1, minRetryDelayMs: 1, minIntervalMs: 0 },
    });
    const csv = createCsvProvider({ files: [`${fixtures}EURUSD-1d.csv`, `${fixtures}GBPUSD-1d.csv`] });
    const failovers: [ProviderFailure, string][] = [];
    const provider = createFailoverProvider([yahoo, csv], {
      onFailover: (failure, next) => failovers.push([failure, next]),
    });
    expect(provider.name).toBe('failover(yahoo>csv)');

    // AUDUSD: Yahoo is in maintenance and the csv files do not have it either.
    const batches: UnvalidatedBarBatch[] = [];
    const run = async (symbols: string[]): Promise<void> => {
      for await (const batch of provider.fetchBars({
        symbols,
        timeframe: '1d',
        from: new Date('2026-11-16'),
        to: new Date('2026-11-20'),
      })) {
        batches.push(batch);
      }
    };
    await run(['EURUSD', 'AUDUSD']);
    const eurusd = batches.filter((b) => b.rows.some((r) => r.symbol === 'EURUSD'));
    expect(eurusd.every((b) => b.source === 'yahoo' && b.failedOver === undefined)).toBe(true);
    const audusd = batches.find((b) => b.failedOver !== undefined);
    expect(audusd).toMatchObject({
      source: 'csv',
      rows: [],
      failedOver: [{ provider: 'yahoo', symbols: ['AUDUSD'] }],
    });
    expect(failovers.map(([failure, next]) => [failure.provider, next])).toEqual([['yahoo', 'csv']]);

    // GBPUSD: Yahoo has no recording (HTTP 599, retried, then failed): csv serves all five days.
    batches.length = 0;
    await run(['GBPUSD']);
    const gbp = batches.flatMap((b) => b.rows);
    expect(gbp.map((r) => r.ts)).toEqual([
      '2026-11-16T00:00:00Z',
      '2026-11-17T00:00:00Z',
      '2026-11-18T00:00:00Z',
      '2026-11-19T00:00:00Z',
      '2026-11-20T00:00:00Z',
    ]);
    expect(new Set(gbp.map((r) => r.source))).toEqual(new Set(['csv']));
  });

  it('never mixes a half answer with the next source, and reports every failure when all fail', async () => {
    const halfThenFail: MarketDataProvider = {
      name: 'flaky',
      async *fetchBars() {
        yield { source: 'flaky', rows: [bar('flaky', '2026-11-16T00:00:00Z', 9)], rejections: [] };
        await Promise.resolve();
        throw Object.assign(new Error('connection reset'), { retriable: true });
      },
    };
    const alwaysFail: MarketDataProvider = {
      name: 'down',
      async *fetchBars() {
        await Promise.resolve();
        throw new Error('401 unauthorised');
      },
    };
    const backup: MarketDataProvider = {
      name: 'backup',
      async *fetchBars() {
        await Promise.resolve();
        yield { source: 'backup', rows: [bar('backup', '2026-11-17T00:00:00Z', 1)], rejections: [] };
      },
    };
    const rows: UnvalidatedBar[] = [];
    for await (const batch of createFailoverProvider([halfThenFail, backup]).fetchBars({
      symbols: ['EURUSD'],
      timeframe: '1d',
      from: new Date('2026-11-16'),
    })) {
      rows.push(...batch.rows);
    }
    expect(rows.map((r) => r.source)).toEqual(['backup']);

    const all = createFailoverProvider([halfThenFail, alwaysFail]).fetchBars({
      symbols: ['EURUSD'],
      timeframe: '1d',
      from: new Date('2026-11-16'),
    });
    const error = await (async () => {
      try {
        for await (const _ of all) {
          // drain
        }
      } catch (caught) {
        return caught;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(AllSourcesFailedError);
    expect(error).toMatchObject({ symbols: ['EURUSD'], retriable: true });
    expect((error as AllSourcesFailedError).failures.map((f) => f.provider)).toEqual(['flaky', 'down']);
    expect((error as Error).message).toContain('flaky: connection reset; down: 401 unauthorised');
  });

  it('refuses to fail over to the same source', () => {
    const yahoo = createYahooProvider({ baseUrl: 'http://127.0.0.1:9' });
    expect(() =>
      createFailoverProvider([yahoo, createYahooProvider({ baseUrl: 'http://127.0.0.1:9' })]),
    ).toThrow(/must differ/);
    expect(() => createFailoverProvider([yahoo])).toThrow(/at least two/);
  });
});
