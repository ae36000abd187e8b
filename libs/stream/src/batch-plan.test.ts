import {
  DEAD_LETTER_HEADERS,
  deadLetterEnvelopeSchema,
  decodeBytes,
  type BarRuleOptions,
} from '@backbone/contracts';
import type { ConsumedMessage } from '@backbone/kafka';
import { describe, expect, it } from 'vitest';
import { deadLetterRecord, planBatch } from './batch-plan.ts';
import { ingestEventFor } from './ingest-event.ts';
import { barRecord, validBar } from './test-support/bars.ts';

const rules: BarRuleOptions = { now: () => new Date('2026-01-06T00:00:00Z'), maxFutureSkewMs: 60_000 };

function message(
  offset: number,
  value: string | Buffer | null,
  key: string | null = 'SYM1',
): ConsumedMessage {
  return {
    topic: 'bars',
    partition: 2,
    offset: BigInt(offset),
    key: key === null ? null : Buffer.from(key),
    value: value === null ? null : Buffer.isBuffer(value) ? value : Buffer.from(value),
    headers: {},
    timestamp: 0,
  };
}

const valid = (offset: number, minute: number, close?: number) =>
  message(offset, barRecord(validBar(1, minute, close === undefined ? {} : { close })).value);

describe('planBatch', () => {
  it('names the reason of every invalid record and keeps the valid ones', () => {
    const plan = planBatch(
      [
        valid(0, 0),
        message(1, Buffer.from([0xff, 0xfe, 0x00])),
        message(2, '[1,2,3]'),
        message(3, JSON.stringify({ ...validBar(1, 3), close: -1 })),
        message(4, JSON.stringify({ ...validBar(1, 4), high: 1, low: 2 })),
        message(5, JSON.stringify(validBar(1, 0, { ts: '2027-01-01T00:00:00Z' }))),
        message(6, 'x'.repeat(300)),
        valid(7, 7),
      ],
      { fromOffset: 0n, maxMessageBytes: 256, rules },
    );
    expect(plan.bars.map((bar) => bar.offset)).toEqual([0n, 7n]);
    expect(plan.rejected.map(({ message: m, rejection }) => [m.offset, rejection.reason])).toEqual([
      [1n, 'not_json'],
      [2n, 'shape_invalid'],
      [3n, 'price_not_positive'],
      [4n, 'ohlc_inconsistent'],
      [5n, 'ts_in_future'],
      [6n, 'message_too_large'],
    ]);
    expect(plan.lastOffset).toBe(7n);
    expect(plan.fenced).toBe(0);
  });

  it('keeps the highest offset of a key seen twice and counts the superseded one', () => {
    const plan = planBatch([valid(10, 1, 101.1), valid(11, 2), valid(12, 1, 101.2)], {
      fromOffset: 0n,
      maxMessageBytes: 1024,
      rules,
    });
    expect(plan.bars.map(({ offset, bar }) => [offset, bar.close])).toEqual([
      [12n, 101.2],
      [11n, validBar(1, 2).close],
    ]);
    expect(plan.superseded).toBe(1);
  });

  it('skips records below the stored next offset (the fence)', () => {
    const plan = planBatch([valid(5, 1), message(6, 'nope'), valid(7, 2)], {
      fromOffset: 7n,
      maxMessageBytes: 1024,
      rules,
    });
    expect(plan.fenced).toBe(2);
    expect(plan.rejected).toEqual([]);
    expect(plan.bars.map((bar) => bar.offset)).toEqual([7n]);
    expect(plan.lastOffset).toBe(7n);
  });
});

describe('deadLetterRecord', () => {
  it('carries the original coordinates, key, reason and payload in a contract envelope', () => {
    const plan = planBatch([message(41, 'not json', 'EURUSD')], {
      fromOffset: 0n,
      maxMessageBytes: 1024,
      rules,
    });
    const [rejected] = plan.rejected;
    if (rejected === undefined) throw new Error('expected a rejection');
    const record = deadLetterRecord(rejected, new Date('2026-01-06T00:00:00Z'));
    expect(record.key?.toString()).toBe('EURUSD');
    expect(record.headers).toMatchObject({
      [DEAD_LETTER_HEADERS.originalTopic]: 'bars',
      [DEAD_LETTER_HEADERS.originalPartition]: '2',
      [DEAD_LETTER_HEADERS.originalOffset]: '41',
      [DEAD_LETTER_HEADERS.errorClass]: 'InvalidBarError',
      [DEAD_LETTER_HEADERS.reason]: 'not_json',
    });
    const envelope = deadLetterEnvelopeSchema.parse(JSON.parse(String(record.value)));
    expect(decodeBytes(envelope.payload)?.toString()).toBe('not json');
  });

  it('drops the payload of an oversize record (it stays at its original offset)', () => {
    const plan = planBatch([message(1, 'y'.repeat(100))], { fromOffset: 0n, maxMessageBytes: 50, rules });
    const [rejected] = plan.rejected;
    if (rejected === undefined) throw new Error('expected a rejection');
    const envelope = deadLetterEnvelopeSchema.parse(
      JSON.parse(String(deadLetterRecord(rejected, new Date()).value)),
    );
    expect(envelope).toMatchObject({
      errorClass: 'MessageTooLargeError',
      reason: 'message_too_large',
      payload: null,
    });
  });
});

describe('ingestEventFor', () => {
  it('reports counts, rejections per reason, symbols and the [open, close) window', () => {
    const plan = planBatch([valid(0, 0), valid(1, 5), message(2, 'bad')], {
      fromOffset: 0n,
      maxMessageBytes: 1024,
      rules,
    });
    const event = ingestEventFor(
      plan,
      { inserted: 1, updated: 1, unchanged: 0 },
      { producedAt: new Date('2026-01-05T00:10:00Z') },
    );
    expect(event).toMatchObject({
      dimension: 'bars',
      symbols: ['SYM1'],
      timeframe: '1m',
      window: { from: '2026-01-05T00:00:00.000Z', to: '2026-01-05T00:06:00.000Z' },
      counts: { inserted: 1, updated: 1, unchanged: 0, rejected: 1 },
      rejectedByReason: { not_json: 1 },
      freshnessSeconds: 300,
    });
    expect(event.traceContext.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/);
  });
});
