import type { DatasetName } from '@backbone/cache';
import { ingestRunEventSchema, type IngestRunEvent } from '@backbone/contracts';
import { describe, expect, it } from 'vitest';
import { planRollupsRefresh, planWarm, warmJobId } from './warm-plan.ts';

const ALL = new Set<DatasetName>(['latest-bar', 'recent-bars', 'rollups', 'macro-calendar']);

function event(overrides: Partial<IngestRunEvent> = {}): IngestRunEvent {
  return ingestRunEventSchema.parse({
    runId: '3f1c2a9e-0000-4000-8000-000000000001',
    dimension: 'bars',
    source: 'feed',
    symbols: ['EURUSD', 'GBPUSD'],
    timeframe: '1m',
    window: { from: '2026-11-26T15:00:00Z', to: '2026-11-26T16:00:00Z' },
    counts: { inserted: 10, updated: 0, unchanged: 0, rejected: 0 },
    rejectedByReason: {},
    freshnessSeconds: 1,
    quality: {},
    producedAt: '2026-11-26T16:00:01Z',
    traceContext: { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' },
    ...overrides,
  });
}

describe('planWarm', () => {
  it('turns a 1m bar run into latest-bar and recent-bars work per symbol, leaving rollups to their refresh', () => {
    const plan = planWarm(event(), ALL);
    expect(plan.jobs.map(warmJobId)).toEqual([
      'warm:latest-bar:EURUSD:1m',
      'warm:recent-bars:EURUSD:1m',
      'warm:latest-bar:GBPUSD:1m',
      'warm:recent-bars:GBPUSD:1m',
    ]);
    expect(plan.invalidations).toContainEqual({ dataset: 'recent-bars', symbol: 'GBPUSD', timeframe: '1m' });
    expect(plan.invalidations.filter((i) => i.dataset === 'rollups')).toEqual([]);
    expect(plan.jobs.every((job) => job.sourceRunId === '3f1c2a9e-0000-4000-8000-000000000001')).toBe(true);
  });

  it('skips disabled datasets', () => {
    const plan = planWarm(
      event({ timeframe: '1h', symbols: ['EURUSD'] }),
      new Set(['latest-bar', 'rollups']),
    );
    expect(plan.jobs.map(warmJobId)).toEqual(['warm:latest-bar:EURUSD:1h']);
  });

  it('invalidates the whole macro calendar for a macro run', () => {
    const plan = planWarm(event({ dimension: 'macro', timeframe: undefined, symbols: ['PAYEMS'] }), ALL);
    expect(plan.invalidations).toEqual([{ dataset: 'macro-calendar' }]);
    expect(plan.jobs.map(warmJobId)).toEqual(['warm:macro-calendar:ALL:*']);
  });

  it('does nothing for runs that changed nothing, and for tick runs', () => {
    const unchanged = event({ counts: { inserted: 0, updated: 0, unchanged: 5, rejected: 0 } });
    expect(planWarm(unchanged, ALL)).toEqual({ invalidations: [], jobs: [] });
    expect(planWarm(event({ dimension: 'ticks', timeframe: undefined }), ALL)).toEqual({
      invalidations: [],
      jobs: [],
    });
  });
});

describe('planRollupsRefresh', () => {
  it('re-warms every cached rollup symbol once, 1h and 1d in one job', () => {
    const plan = planRollupsRefresh(['EURUSD:1h', 'GBPUSD:1d', 'EURUSD:1d']);
    expect(plan.invalidations).toEqual([
      { dataset: 'rollups', symbol: 'EURUSD' },
      { dataset: 'rollups', symbol: 'GBPUSD' },
    ]);
    expect(plan.jobs.map(warmJobId)).toEqual(['warm:rollups:EURUSD:*', 'warm:rollups:GBPUSD:*']);
    expect(planRollupsRefresh([])).toEqual({ invalidations: [], jobs: [] });
  });
});
