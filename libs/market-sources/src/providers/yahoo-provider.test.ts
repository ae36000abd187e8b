import { parseBar, type BarRuleOptions } from '@backbone/contracts';
import { afterEach, describe, expect, it } from 'vitest';
import { ProviderResponseError } from '../http/provider-response-error.ts';
import { startReplayServer, type ReplayServer } from '../test-support/replay-server.ts';
import type { BarRequest, UnvalidatedBarBatch } from '../types.ts';
import { createYahooProvider } from './yahoo-provider.ts';

let server: ReplayServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function fetchAll(
  recordings: string[],
  request: BarRequest,
  now: string,
): Promise<UnvalidatedBarBatch[]> {
  server = await startReplayServer(recordings);
  const yahoo = createYahooProvider({
    baseUrl: server.url,
    now: () => new Date(now),
    http: { minIntervalMs: 0, minRetryDelayMs: 1 },
  });
  const batches: UnvalidatedBarBatch[] = [];
  for await (const batch of yahoo.fetchBars(request)) batches.push(batch);
  return batches;
}

describe('yahoo provider', () => {
  it('includes today’s partial daily bar: the window ends now, and the last-trade stamp maps to today', async () => {
    const now = '2026-11-26T15:33:20Z';
    const [batch] = await fetchAll(
      ['yahoo/eurusd-1d.json'],
      { symbols: ['EURUSD'], timeframe: '1d', from: new Date('2026-11-16T00:00:00Z') },
      now,
    );
    expect(server?.requests[0]?.query).toMatchObject({
      period1: String(Date.parse('2026-11-16T00:00:00Z') / 1000),
      period2: String(Date.parse(now) / 1000),
      interval: '1d',
    });
    expect(batch?.rows).toHaveLength(9);
    expect(batch?.rows.at(-1)).toEqual({
      symbol: 'EURUSD',
      timeframe: '1d',
      ts: '2026-11-26T00:00:00Z',
      open: 1.08745,
      high: 1.08976,
      low: 1.08343,
      close: 1.0853,
      volume: 0,
      source: 'yahoo',
    });
    expect(batch?.rejections).toEqual([]);
    const rules: BarRuleOptions = { now: () => new Date(now), maxFutureSkewMs: 0 };
    expect(batch?.rows.filter((row) => !parseBar(row, rules).ok)).toEqual([]);
  });

  it('treats an explicit `to` as inclusive of its bar, never past now', async () => {
    await fetchAll(
      ['yahoo/eurusd-1d.json'],
      { symbols: ['EURUSD'], timeframe: '1d', from: new Date('2026-11-16'), to: new Date('2026-11-20') },
      '2026-11-26T15:33:20Z',
    );
    expect(server?.requests[0]?.query.period2).toBe(String(Date.parse('2026-11-21T00:00:00Z') / 1000));
  });

  it('stamps daily bars with the exchange-local trading date (London summer time, New York open)', async () => {
    const [summer] = await fetchAll(
      ['yahoo/eurusd-1d-summer.json'],
      { symbols: ['EURUSD'], timeframe: '1d', from: new Date('2026-07-06'), to: new Date('2026-07-08') },
      '2026-11-26T00:00:00Z',
    );
    expect(summer?.rows.map((r) => r.ts)).toEqual([
      '2026-07-06T00:00:00Z',
      '2026-07-07T00:00:00Z',
      '2026-07-08T00:00:00Z',
    ]);
    await server?.close();
    const [spy] = await fetchAll(
      ['yahoo/spy-1d.json'],
      { symbols: ['SPY'], timeframe: '1d', from: new Date('2026-11-19') },
      '2026-11-25T21:00:00Z',
    );
    expect(server?.requests[0]?.path).toBe('/v8/finance/chart/SPY');
    expect(spy?.rows.map((r) => r.ts.slice(0, 10))).toEqual([
      '2026-11-19',
      '2026-11-20',
      '2026-11-23',
      '2026-11-24',
      '2026-11-25',
    ]);
  });

  // Recordings fetched in November (meta.gmtoffset = winter offset) for windows across each DST change.
  it.each([
    {
      name: 'EURUSD spring (London, 29 Mar)',
      recording: 'yahoo/eurusd-1d-dst-spring.json',
      symbol: 'EURUSD',
      from: '2026-03-23',
      to: '2026-04-03',
      days: ['03-23', '03-24', '03-25', '03-26', '03-27', '03-30', '03-31', '04-01', '04-02', '04-03'],
    },
    {
      name: 'EURUSD autumn (London, 25 Oct)',
      recording: 'yahoo/eurusd-1d-dst-autumn.json',
      symbol: 'EURUSD',
      from: '2026-10-19',
      to: '2026-10-30',
      days: ['10-19', '10-20', '10-21', '10-22', '10-23', '10-26', '10-27', '10-28', '10-29', '10-30'],
    },
    {
      name: 'SPY spring (New York, 8 Mar)',
      recording: 'yahoo/spy-1d-dst-spring.json',
      symbol: 'SPY',
      from: '2026-03-02',
      to: '2026-03-13',
      days: ['03-02', '03-03', '03-04', '03-05', '03-06', '03-09', '03-10', '03-11', '03-12', '03-13'],
    },
    {
      name: 'SPY autumn (New York, 1 Nov)',
      recording: 'yahoo/spy-1d-dst-autumn.json',
      symbol: 'SPY',
      from: '2026-10-26',
      to: '2026-11-06',
      days: ['10-26', '10-27', '10-28', '10-29', '10-30', '11-02', '11-03', '11-04', '11-05', '11-06'],
    },
  ])(
    'finding 2.2: daily bars across a DST change land on their exchange-local trading date, not by one gmtoffset: $name',
    async ({ recording, symbol, from, to, days }) => {
      const [batch] = await fetchAll(
        [recording],
        { symbols: [symbol], timeframe: '1d', from: new Date(from), to: new Date(to) },
        '2026-11-26T12:00:00Z',
      );
      expect(batch?.rejections).toEqual([]);
      expect(batch?.rows.map((r) => r.ts)).toEqual(days.map((day) => `2026-${day}T00:00:00Z`));
    },
  );

  it('finding 1.5: a timestamp past year 9999 is one rejected row with its reason, the rest of the answer is kept', async () => {
    const [batch] = await fetchAll(
      ['yahoo/eurusd-1d-epoch-out-of-range.json'],
      { symbols: ['EURUSD'], timeframe: '1d', from: new Date('2026-11-16T00:00:00Z') },
      '2026-11-26T15:33:20Z',
    );
    expect(batch?.rows.map((r) => r.ts)).toEqual(['2026-11-16T00:00:00Z', '2026-11-18T00:00:00Z']);
    expect(batch?.rejections).toEqual([
      {
        source: 'yahoo',
        location: 'yahoo EURUSD=X[1]',
        reason: 'impossible_timestamp',
        detail: 'timestamp 1000000000000000 s is outside years 0001-9999',
      },
    ]);
  });

  it('counts intervals without trades as empty_bar rejections and keeps the still-forming minute', async () => {
    const [batch] = await fetchAll(
      ['yahoo/eurusd-1m.json'],
      { symbols: ['EURUSD'], timeframe: '1m', from: new Date('2026-11-26T15:20:00Z') },
      '2026-11-26T15:29:31Z',
    );
    expect(batch?.rows).toHaveLength(9);
    expect(batch?.rows.at(-1)?.ts).toBe('2026-11-26T15:29:00Z');
    expect(batch?.rejections).toEqual([
      expect.objectContaining({ source: 'yahoo', reason: 'empty_bar', location: 'yahoo EURUSD=X[3]' }),
    ]);
  });

  it('splits 1-minute requests into windows Yahoo accepts (7 days)', async () => {
    await fetchAll(
      ['yahoo/eurusd-1m.json'],
      { symbols: ['EURUSD'], timeframe: '1m', from: new Date('2026-11-10T00:00:00Z') },
      '2026-11-26T15:29:31Z',
    );
    const windows = (server?.requests ?? []).map(
      (r) => [Number(r.query.period1), Number(r.query.period2)] as const,
    );
    expect(windows).toHaveLength(3);
    expect(windows[0]?.[0]).toBe(Date.parse('2026-11-10T00:00:00Z') / 1000);
    expect(windows.at(-1)?.[1]).toBe(Math.ceil(Date.parse('2026-11-26T15:29:31Z') / 1000));
    for (let i = 1; i < windows.length; i += 1) expect(windows[i]?.[0]).toBe(windows[i - 1]?.[1]);
    for (const [start, end] of windows) expect(end - start).toBeLessThanOrEqual(7 * 86_400);
  });

  it('yields an empty batch for a window without bars', async () => {
    const [batch] = await fetchAll(
      ['yahoo/spy-empty-window.json'],
      { symbols: ['SPY'], timeframe: '1d', from: new Date('2026-11-26') },
      '2026-11-26T23:00:00Z',
    );
    expect(batch).toEqual({ source: 'yahoo', rows: [], rejections: [] });
  });

  it('reports an unknown symbol and a refused range as named, non-retriable errors', async () => {
    await expect(
      fetchAll(
        ['yahoo/not-found-404.json'],
        { symbols: ['NOSUCH'], timeframe: '1d', from: new Date('2026-11-16') },
        '2026-11-26T00:00:00Z',
      ),
    ).rejects.toBeInstanceOf(ProviderResponseError);
    await server?.close();
    await expect(
      fetchAll(
        ['yahoo/range-too-long-422.json'],
        { symbols: ['AUDUSD'], timeframe: '1m', from: new Date('2026-11-20') },
        '2026-11-26T00:00:00Z',
      ),
    ).rejects.toMatchObject({ status: 422, reason: 'api_error', retriable: false });
  });

  it('has no 4h interval and says so', async () => {
    await expect(
      fetchAll(
        [],
        { symbols: ['EURUSD'], timeframe: '4h', from: new Date('2026-11-20') },
        '2026-11-26T12:00:00Z',
      ),
    ).rejects.toThrow(/no 4h interval/);
  });

  it('refuses a reversed window and a request without symbols', async () => {
    await expect(
      fetchAll(
        [],
        { symbols: ['EURUSD'], timeframe: '1d', from: new Date('2026-11-26'), to: new Date('2026-11-01') },
        '2026-11-26T12:00:00Z',
      ),
    ).rejects.toThrow(/empty window/);
    await server?.close();
    await expect(
      fetchAll([], { symbols: [], timeframe: '1d', from: new Date('2026-11-01') }, '2026-11-26T12:00:00Z'),
    ).rejects.toThrow(/name the symbols/);
  });
});
