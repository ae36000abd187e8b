import { macroEventSchema } from '@backbone/contracts';
import { afterEach, describe, expect, it } from 'vitest';
import { startReplayServer, type ReplayServer } from '../test-support/replay-server.ts';
import type { UnvalidatedMacroEvent } from '../types.ts';
import { createFredProvider, type FredSeriesSpec } from './fred-provider.ts';

const API_KEY = 'abcdef0123456789abcdef0123456789';
const SERIES: FredSeriesSpec[] = [
  {
    seriesId: 'PAYEMS',
    releaseId: 50,
    name: 'Nonfarm Payrolls',
    importance: 'high',
    releaseTimeUtc: '13:30',
  },
  {
    seriesId: 'CPIAUCSL',
    releaseId: 10,
    name: 'CPI (all urban consumers)',
    importance: 'high',
    releaseTimeUtc: '13:30',
  },
];
const HAPPY = [
  'fred/releases-dates-q4.json',
  'fred/payems-2026-10-02.json',
  'fred/payems-2026-11-06.json',
  'fred/cpiaucsl-2026-10-14.json',
  'fred/cpiaucsl-2026-11-12.json',
];

let server: ReplayServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function events(recordings: string[], apiKey = API_KEY): Promise<UnvalidatedMacroEvent[]> {
  server = await startReplayServer(recordings);
  const fred = createFredProvider({
    baseUrl: server.url,
    apiKey,
    series: SERIES,
    now: () => new Date('2026-11-26T16:00:00Z'),
    http: { minIntervalMs: 0, minRetryDelayMs: 1 },
  });
  const all: UnvalidatedMacroEvent[] = [];
  for await (const batch of fred.fetchEvents({ from: new Date('2026-10-01'), to: new Date('2026-12-31') }))
    all.push(...batch.events);
  return all;
}

describe('fred provider', () => {
  it('turns the release calendar of tracked series into events with the first-published actual and previous values', async () => {
    const result = await events(HAPPY);
    expect(result.map((e) => [e.eventId, e.ts, e.actual, e.previous])).toEqual([
      ['PAYEMS@2026-10-02', '2026-10-02T13:30:00Z', 159872, 159745],
      ['CPIAUCSL@2026-10-14', '2026-10-14T13:30:00Z', 331.482, 330.795],
      ['PAYEMS@2026-11-06', '2026-11-06T13:30:00Z', 160013, 159861],
      // "." is FRED's missing value: the event exists, its actual is unknown
      ['CPIAUCSL@2026-11-12', '2026-11-12T13:30:00Z', null, 331.482],
      // scheduled, not yet released: no observation request, actual null
      ['PAYEMS@2026-12-04', '2026-12-04T13:30:00Z', null, null],
    ]);
    expect(result[0]).toMatchObject({
      source: 'fred',
      name: 'Nonfarm Payrolls',
      calendar: 'us',
      currency: 'USD',
      importance: 'high',
      forecast: null,
      revision: 0,
    });
    // Every event already satisfies the macro event contract the pipeline validates with.
    for (const event of result) expect(macroEventSchema.safeParse(event).success, event.eventId).toBe(true);
    // The untracked retail sales release (id 9) asked for nothing; the future release neither.
    const observationCalls = (server?.requests ?? []).filter((r) => r.path === '/fred/series/observations');
    expect(observationCalls.map((r) => `${r.query.series_id ?? ''}@${r.query.realtime_start ?? ''}`)).toEqual(
      ['PAYEMS@2026-10-02', 'CPIAUCSL@2026-10-14', 'PAYEMS@2026-11-06', 'CPIAUCSL@2026-11-12'],
    );
    expect(server?.requests.every((r) => r.query.api_key === API_KEY && r.query.file_type === 'json')).toBe(
      true,
    );
    expect(server?.requests.every((r) => r.recording !== undefined)).toBe(true);
  });

  it('retries a 429 and carries on', async () => {
    const result = await events(['fred/rate-limited-429-then-ok.json', ...HAPPY.slice(1)]);
    expect(result).toHaveLength(5);
    expect(server?.requests.filter((r) => r.path === '/fred/releases/dates')).toHaveLength(2);
  });

  it('reports a rejected API key without ever printing it', async () => {
    const badKey = 'unregistered0000000000000000000x';
    const error = await events(['fred/bad-api-key-400.json'], badKey).then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(error).toMatchObject({ provider: 'fred', status: 400, reason: 'api_error', retriable: false });
    const text = `${(error as Error).message} ${JSON.stringify(error)} ${(error as Error).stack ?? ''}`;
    expect(text).toContain('api_key is not registered');
    expect(text).toContain('api_key=***');
    expect(text).not.toContain(badKey);
    expect(server?.requests).toHaveLength(1);
  });
});
