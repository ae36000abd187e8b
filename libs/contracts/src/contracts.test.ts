import { describe, expect, it } from 'vitest';
import {
  DEAD_LETTER_HEADERS,
  deadLetterEnvelopeSchema,
  deadLetterHeaders,
  decodeBytes,
  encodeBytes,
} from './dead-letter.ts';
import { ingestRunEventSchema } from './ingest-run-event.ts';
import { macroEventSchema } from './macro-event.ts';
import { timeWindowSchema, traceContextSchema } from './primitives.ts';
import { readinessSnapshotSchema } from './readiness-snapshot.ts';
import { tickSchema } from './tick.ts';

const traceContext = { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' };

function issuePaths(result: { success: boolean; error?: { issues: { path: PropertyKey[] }[] } }): string[] {
  return (result.error?.issues ?? []).map((issue) => issue.path.map(String).join('.'));
}

describe('tick v1', () => {
  const tick = {
    symbol: 'eurusd',
    ts: '2026-11-26T16:30:00.123+01:00',
    sequence: 42,
    price: 1.0841,
    size: 100_000,
    venue: 'ebs',
    tradeId: 't-1',
    side: 'buy',
    source: 'feed',
  };

  it('accepts a trade and normalises symbol and ts', () => {
    expect(tickSchema.parse(tick)).toMatchObject({ symbol: 'EURUSD', ts: '2026-11-26T15:30:00.123Z' });
  });

  it('rejects an unknown side, a fractional sequence and a non-positive price, naming each field', () => {
    const result = tickSchema.safeParse({ ...tick, side: 'short', sequence: 1.5, price: 0 });
    expect(issuePaths(result).sort()).toEqual(['price', 'sequence', 'side']);
  });
});

describe('macro event v1', () => {
  const event = {
    source: 'fred',
    eventId: 'CPIAUCSL:2026-10-01',
    ts: '2026-11-12T13:30:00Z',
    name: 'CPI',
    calendar: 'us',
    currency: 'USD',
    actual: 3.1,
    forecast: null,
    previous: 3.0,
    importance: 'high',
    revision: 0,
  };

  it('accepts null observations', () => {
    expect(macroEventSchema.parse(event).forecast).toBeNull();
  });

  it('rejects a missing observation, a lower-case currency and an unknown importance', () => {
    const { previous: _previous, ...withoutPrevious } = event;
    const result = macroEventSchema.safeParse({ ...withoutPrevious, currency: 'usd', importance: 'huge' });
    expect(issuePaths(result).sort()).toEqual(['currency', 'importance', 'previous']);
  });
});

describe('ingest-run event v1', () => {
  const event = {
    runId: '0b8a4e0e-4a6f-4a8e-9a53-2a4c1c0f5d11',
    dimension: 'bars',
    source: 'yahoo',
    symbols: ['eurusd', 'GBPUSD'],
    timeframe: '1d',
    window: { from: '2026-11-01T00:00:00Z', to: '2026-11-26T00:00:00Z' },
    counts: { inserted: 10, updated: 2, unchanged: 5, rejected: 3 },
    rejectedByReason: { ohlc_inconsistent: 2, ts_unaligned: 1 },
    freshnessSeconds: 120,
    quality: { coverage: 0.98, gaps: 1, falseTicks: 0, stale: 0, provider: 'yahoo-v8' },
    producedAt: '2026-11-26T15:30:00Z',
    traceContext,
  };

  it('accepts a run and keeps extra quality measurements', () => {
    const parsed = ingestRunEventSchema.parse(event);
    expect(parsed.symbols).toEqual(['EURUSD', 'GBPUSD']);
    expect(parsed.quality['provider']).toBe('yahoo-v8');
  });

  it('rejects a rejected count that does not equal the sum of rejectedByReason', () => {
    const result = ingestRunEventSchema.safeParse({ ...event, counts: { ...event.counts, rejected: 4 } });
    expect(issuePaths(result)).toEqual(['counts.rejected']);
  });

  it('rejects a window that ends before it starts, a coverage above 1 and a quality object value', () => {
    const result = ingestRunEventSchema.safeParse({
      ...event,
      window: { from: '2026-11-26T00:00:00Z', to: '2026-11-01T00:00:00Z' },
      quality: { coverage: 1.5, nested: { no: 1 } },
    });
    expect(issuePaths(result).sort()).toEqual(['quality.coverage', 'quality.nested', 'window.to']);
  });

  it('requires trace context and a UUID run id', () => {
    const { traceContext: _traceContext, ...withoutTrace } = event;
    expect(issuePaths(ingestRunEventSchema.safeParse({ ...withoutTrace, runId: 'run-1' })).sort()).toEqual([
      'runId',
      'traceContext',
    ]);
  });
});

describe('readiness snapshot v1', () => {
  it('accepts components with JSON evidence and rejects an unknown status', () => {
    const snapshot = {
      id: '0b8a4e0e-4a6f-4a8e-9a53-2a4c1c0f5d11',
      generatedAt: '2026-11-26T15:30:00Z',
      status: 'warn',
      components: [
        {
          name: 'kafka',
          group: 'messaging',
          required: true,
          status: 'warn',
          reason: 'consumer_lag_high',
          evidence: { lag: 5000, group: 'stream-bridge', partitions: [0, 1] },
          checkedAt: '2026-11-26T15:29:59Z',
          latencyMs: 12.5,
        },
      ],
    };
    expect(readinessSnapshotSchema.parse(snapshot).components[0]?.evidence['lag']).toBe(5000);
    expect(issuePaths(readinessSnapshotSchema.safeParse({ ...snapshot, status: 'degraded' }))).toEqual([
      'status',
    ]);
  });
});

describe('dead-letter envelope', () => {
  it('encodes UTF-8 bytes as text and anything else as base64, losslessly', () => {
    const text = Buffer.from('{"symbol":"EURUSD"}');
    const binary = Buffer.from([0xff, 0x00, 0xfe]);
    expect(encodeBytes(text)).toEqual({ encoding: 'utf8', data: '{"symbol":"EURUSD"}' });
    expect(encodeBytes(binary)).toEqual({ encoding: 'base64', data: '/wD+' });
    expect(decodeBytes(encodeBytes(binary))).toEqual(binary);
    expect(decodeBytes(encodeBytes(text))).toEqual(text);
    expect(encodeBytes(null)).toBeNull();
  });

  it('carries the reason in the envelope and in the headers', () => {
    const envelope = deadLetterEnvelopeSchema.parse({
      originalTopic: 'market.bars.v1',
      partition: 3,
      offset: '9007199254740993',
      key: encodeBytes(Buffer.from('EURUSD')),
      errorClass: 'BarRejectedError',
      reason: 'ohlc_inconsistent',
      message: 'high: 1.08 is below max(open, close) = 1.09',
      firstSeenAt: '2026-11-26T15:30:00Z',
      payload: encodeBytes(Buffer.from('{}')),
    });
    expect(deadLetterHeaders(envelope)).toEqual({
      [DEAD_LETTER_HEADERS.originalTopic]: 'market.bars.v1',
      [DEAD_LETTER_HEADERS.originalPartition]: '3',
      [DEAD_LETTER_HEADERS.originalOffset]: '9007199254740993',
      [DEAD_LETTER_HEADERS.errorClass]: 'BarRejectedError',
      [DEAD_LETTER_HEADERS.reason]: 'ohlc_inconsistent',
      [DEAD_LETTER_HEADERS.firstSeenAt]: '2026-11-26T15:30:00.000Z',
    });
  });

  it('rejects a numeric offset and a reason that is not a code', () => {
    const result = deadLetterEnvelopeSchema.safeParse({
      originalTopic: 'market.bars.v1',
      partition: 0,
      offset: 12,
      key: null,
      errorClass: 'BarRejectedError',
      reason: 'Bad Bar!',
      message: '',
      firstSeenAt: '2026-11-26T15:30:00Z',
      payload: null,
    });
    expect(issuePaths(result).sort()).toEqual(['offset', 'reason']);
  });
});

describe('shared pieces', () => {
  it('accepts a W3C traceparent and rejects an upper-case or short one', () => {
    expect(traceContextSchema.safeParse(traceContext).success).toBe(true);
    expect(
      traceContextSchema.safeParse({ traceparent: traceContext.traceparent.toUpperCase() }).success,
    ).toBe(false);
    expect(traceContextSchema.safeParse({ traceparent: '00-abc-def-01' }).success).toBe(false);
  });

  it('accepts an empty window and rejects a reversed one', () => {
    const at = '2026-11-26T15:30:00Z';
    expect(timeWindowSchema.safeParse({ from: at, to: at }).success).toBe(true);
    expect(timeWindowSchema.safeParse({ from: at, to: '2026-11-26T15:29:59Z' }).success).toBe(false);
  });
});
