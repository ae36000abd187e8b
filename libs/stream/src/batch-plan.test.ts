import {
  DEAD_LETTER_HEADERS,
  deadLetterEnvelopeSchema,
  decodeBytes,
  type BarRuleOptions,
} from '@backbone/contracts';
import type { ConsumedMessage } from '@backbone/kafka';
import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { deadLetterFor, deadLetterSends, planBatch, type PlannedRejection } from './batch-plan.ts';
import { ingestEventFor } from './ingest-event.ts';
import { BAR_BASE_MS, barRecord, barRulesNow, validBar } from './test-support/bars.ts';

const rules: BarRuleOptions = { now: barRulesNow, maxFutureSkewMs: 60_000 };

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
        message(
          5,
          JSON.stringify(validBar(1, 0, { ts: new Date(barRulesNow().getTime() + 3_600_000).toISOString() })),
        ),
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

function rejectionOf(record: ConsumedMessage, maxMessageBytes = 2_000_000): PlannedRejection {
  const [rejected] = planBatch([record], { fromOffset: 0n, maxMessageBytes, rules }).rejected;
  if (rejected === undefined) throw new Error('expected a rejection');
  return rejected;
}

const envelopeOf = (value: string | Buffer | null) =>
  deadLetterEnvelopeSchema.parse(JSON.parse(String(value)));

describe('deadLetterFor', () => {
  it('carries the original coordinates, key, reason and payload in a contract envelope', () => {
    const letter = deadLetterFor(
      rejectionOf(message(41, 'not json', 'EURUSD')),
      new Date('2026-01-06T00:00:00Z'),
      1_048_576,
    );
    const { record } = letter;
    expect(record.key?.toString()).toBe('EURUSD');
    expect(record.headers).toMatchObject({
      [DEAD_LETTER_HEADERS.originalTopic]: 'bars',
      [DEAD_LETTER_HEADERS.originalPartition]: '2',
      [DEAD_LETTER_HEADERS.originalOffset]: '41',
      [DEAD_LETTER_HEADERS.errorClass]: 'InvalidBarError',
      [DEAD_LETTER_HEADERS.reason]: 'not_json',
    });
    const envelope = envelopeOf(record.value);
    expect(decodeBytes(envelope.payload)?.toString()).toBe('not json');
    expect(envelope.payloadTruncated).toBeUndefined();
    expect(letter.wholeRecord).toBeUndefined();
  });

  it('keeps the payload of a record over kafka.maxMessageBytes when its envelope fits the DLQ', () => {
    const letter = deadLetterFor(rejectionOf(message(1, 'y'.repeat(100)), 50), new Date(), 1_048_576);
    expect(envelopeOf(letter.record.value)).toMatchObject({
      errorClass: 'MessageTooLargeError',
      reason: 'message_too_large',
      payload: { encoding: 'utf8', data: 'y'.repeat(100) },
    });
  });

  it.each([
    ['UTF-8 with characters JSON escapes', Buffer.from('"\\ü€'.repeat(60_000))],
    ['bytes that are not UTF-8 (base64)', Buffer.alloc(200_000, 0xff)],
  ])(
    'finding 1.3: an envelope too large for the DLQ carries a prefix that fits, the whole record is returned for the table (%s)',
    (_, value) => {
      const limit = 65_536;
      const letter = deadLetterFor(rejectionOf(message(7, value)), new Date(), limit);
      expect(letter.batchBytes).toBeLessThanOrEqual(limit - 128);
      const envelope = envelopeOf(letter.record.value);
      const sha256 = createHash('sha256').update(value).digest('hex');
      expect(envelope).toMatchObject({
        payloadTruncated: true,
        payloadBytes: value.length,
        payloadSha256: sha256,
      });
      const prefix = decodeBytes(envelope.payload);
      expect(prefix?.length).toBeGreaterThan(limit / 2);
      expect(value.subarray(0, prefix?.length).equals(prefix ?? Buffer.alloc(0))).toBe(true);
      expect(letter.wholeRecord).toMatchObject({
        topic: 'bars',
        partition: 2,
        offset: 7n,
        payloadSha256: sha256,
      });
      expect(letter.wholeRecord?.payload?.equals(value)).toBe(true);
    },
  );

  it('finding 1.3: dead letters are split into sends under the DLQ limit, in order', () => {
    const limit = 65_536;
    const letters = Array.from({ length: 10 }, (_, offset) =>
      deadLetterFor(rejectionOf(message(offset, 'z'.repeat(20_000))), new Date(), limit),
    );
    const sends = deadLetterSends(letters, limit);
    expect(sends.length).toBeGreaterThan(3);
    for (const send of sends) {
      expect(128 + send.reduce((sum, letter) => sum + letter.batchBytes, 0)).toBeLessThanOrEqual(limit);
    }
    expect(sends.flat().map((letter) => letter.offset)).toEqual(letters.map((letter) => letter.offset));
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
      { producedAt: new Date(BAR_BASE_MS + 10 * 60_000) },
    );
    expect(event).toMatchObject({
      dimension: 'bars',
      symbols: ['SYM1'],
      timeframe: '1m',
      window: {
        from: new Date(BAR_BASE_MS).toISOString(),
        to: new Date(BAR_BASE_MS + 6 * 60_000).toISOString(),
      },
      counts: { inserted: 1, updated: 1, unchanged: 0, rejected: 1 },
      rejectedByReason: { not_json: 1 },
      freshnessSeconds: 300,
    });
    expect(event.traceContext.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/);
  });
});
