import { loadConfig } from '@backbone/config';
import { describe, expect, it } from 'vitest';
import { planRequests, type Plan } from './plan-requests.ts';

const config = loadConfig({ argv: [], env: {} });
const now = new Date('2026-11-26T12:00:00Z');
const schedule = { intervalSeconds: 3600, jitterSeconds: 120, maxConsecutiveFailures: 3 };

describe('planRequests', () => {
  it('turns a fred plan into one macro request for its series over its lookback', () => {
    const plan: Plan = {
      name: 'us-macro',
      provider: 'fred',
      symbols: ['UNRATE', 'GDP'],
      timeframes: ['1d'],
      lookbackDays: 30,
      schedule,
    };
    const requests = planRequests(plan, { planName: 'us-macro', reason: 'scheduled' }, config, now);
    expect(requests).toHaveLength(1);
    expect(requests[0]).toMatchObject({
      provider: 'fred',
      window: { from: new Date('2026-10-27T12:00:00Z'), to: now },
    });
    const request = requests[0];
    expect(request?.provider === 'fred' ? request.series.map((spec) => spec.seriesId) : []).toEqual([
      'UNRATE',
      'GDP',
    ]);
  });

  it('turns a yahoo plan into one request per timeframe over the job window', () => {
    const plan: Plan = {
      name: 'fx',
      provider: 'yahoo',
      symbols: ['EURUSD'],
      timeframes: ['1d', '1h'],
      lookbackDays: 60,
      schedule,
    };
    const window = { from: '2026-11-01T00:00:00.000Z', to: '2026-11-02T00:00:00.000Z' };
    const requests = planRequests(plan, { planName: 'fx', reason: 'manual', window }, config, now);
    expect(requests.map((request) => (request.provider === 'yahoo' ? request.timeframe : null))).toEqual([
      '1d',
      '1h',
    ]);
  });

  it("carries a plan's merge sources and drift threshold into every request", () => {
    const plan: Plan = {
      name: 'fx-merged',
      provider: 'yahoo',
      mergeWith: ['csv'],
      driftThresholdPct: 1.5,
      symbols: ['EURUSD'],
      timeframes: ['1d'],
      lookbackDays: 7,
      schedule,
    };
    const [request] = planRequests(plan, { planName: 'fx-merged', reason: 'scheduled' }, config, now);
    expect(request).toMatchObject({ provider: 'yahoo', mergeWith: ['csv'], driftThresholdPct: 1.5 });
    expect(request).not.toHaveProperty('fallbackProvider');
    const [plain] = planRequests(
      { ...plan, mergeWith: undefined, driftThresholdPct: undefined },
      { planName: 'fx', reason: 'scheduled' },
      config,
      now,
    );
    expect(plain).not.toHaveProperty('mergeWith');
  });
});
