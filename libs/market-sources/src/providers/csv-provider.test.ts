import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { UnvalidatedBarBatch } from '../types.ts';
import { CsvFormatError } from './csv-format-error.ts';
import { createCsvProvider, readCsvBars } from './csv-provider.ts';

const csvDir = fileURLToPath(new URL('../test-support/csv/', import.meta.url));

async function collect(batches: AsyncIterable<UnvalidatedBarBatch>): Promise<UnvalidatedBarBatch> {
  const all: UnvalidatedBarBatch = { source: '', rows: [], rejections: [] };
  for await (const batch of batches) {
    all.source = batch.source;
    all.rows.push(...batch.rows);
    all.rejections.push(...batch.rejections);
  }
  return all;
}

describe('readCsvBars', () => {
  it('keeps the valid rows of a malformed file and counts every bad line with its number and reason', async () => {
    const { rows, rejections } = await collect(readCsvBars(join(csvDir, 'malformed.csv')));
    expect(rows.map((r) => r.ts)).toEqual([
      '2026-11-16T00:00:00Z',
      '2026-11-20T00:00:00Z',
      '2026-11-23T00:00:00Z',
      '2026-11-26T00:00:00Z',
    ]);
    expect(rows[0]).toEqual({
      symbol: 'EURUSD',
      timeframe: '1d',
      ts: '2026-11-16T00:00:00Z',
      open: 1.08,
      high: 1.085,
      low: 1.078,
      close: 1.082,
      volume: 1000,
      source: 'csv',
    });
    // An empty volume is "unknown", not zero; a quoted line is unwrapped.
    expect(rows[1]?.volume).toBeNull();
    expect(rows[2]).toMatchObject({ symbol: 'EURUSD', close: 1.089, volume: 1200 });
    expect(rejections.map((r) => [r.line, r.reason])).toEqual([
      [3, 'column_count'],
      [4, 'unparsable_number'],
      [5, 'unparsable_number'], // the stray quote spoils only its own line
      [7, 'unparsable_timestamp'],
      [8, 'column_count'],
      [11, 'missing_field'],
      [12, 'unparsable_number'],
    ]);
    expect(rejections[1]).toMatchObject({ location: 'malformed.csv:4', source: 'csv' });
    expect(rejections[1]?.detail).toContain('high "abc" is not a number');
    expect(rejections[1]?.detail).toContain('EURUSD,1d,2026-11-18');
  });

  it('reads CRLF files', async () => {
    const { rows, rejections } = await collect(readCsvBars(join(csvDir, 'crlf.csv')));
    expect(rejections).toEqual([]);
    expect(rows.map((r) => [r.ts, r.close, r.volume])).toEqual([
      ['2026-11-16T14:30:00Z', 590.2, 150000],
      ['2026-11-16T14:31:00Z', 590.3, 120000],
    ]);
  });

  it('refuses a file whose header does not name the bar columns, and a missing file, with the file named', async () => {
    await expect(collect(readCsvBars(join(csvDir, 'wrong-header.csv')))).rejects.toThrow(
      /wrong-header\.csv: header must name the columns .* \(missing "symbol"\)/,
    );
    await expect(collect(readCsvBars(join(csvDir, 'nope.csv')))).rejects.toBeInstanceOf(CsvFormatError);
  });
});

describe('readCsvBars cancellation', () => {
  it('stops reading when the caller aborts', async () => {
    const controller = new AbortController();
    const fixture = fileURLToPath(new URL('../../../../fixtures/bars/EURUSD-1m.csv', import.meta.url));
    let batches = 0;
    const reading = (async () => {
      for await (const _batch of readCsvBars(fixture, { batchSize: 100, signal: controller.signal })) {
        batches += 1;
        if (batches === 2) controller.abort();
      }
    })();
    await expect(reading).rejects.toMatchObject({ name: 'AbortError' });
    // 7,200 rows in batches of 100 would be 72 batches; the read stopped long before.
    expect(batches).toBeLessThan(72);
  });
});

describe('createCsvProvider', () => {
  it('filters by symbol, timeframe and inclusive window, and still reports the rejections', async () => {
    const csv = createCsvProvider({ files: [join(csvDir, 'malformed.csv'), join(csvDir, 'crlf.csv')] });
    const result = await collect(
      csv.fetchBars({
        symbols: ['eurusd'],
        timeframe: '1d',
        from: new Date('2026-11-20T00:00:00Z'),
        to: new Date('2026-11-23T00:00:00Z'),
      }),
    );
    expect(result.rows.map((r) => r.ts)).toEqual(['2026-11-20T00:00:00Z', '2026-11-23T00:00:00Z']);
    expect(result.rejections).toHaveLength(7);
  });
});

describe('streaming a 1,000,000-row file', () => {
  let dir: string;
  let file: string;
  const rowCount = 1_000_000;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'csv-stream-'));
    file = join(dir, 'big.csv');
    const out = createWriteStream(file);
    out.write('symbol,timeframe,ts,open,high,low,close,volume\n');
    const start = Date.parse('2020-01-01T00:00:00Z');
    let chunk = '';
    for (let i = 0; i < rowCount; i += 1) {
      const ts = new Date(start + i * 60_000).toISOString().replace('.000Z', 'Z');
      chunk += `EURUSD,1m,${ts},1.08000,1.08010,1.07990,1.08005,${i % 500}\n`;
      if (i % 10_000 === 9_999) {
        if (!out.write(chunk)) await once(out, 'drain');
        chunk = '';
      }
    }
    out.end(chunk);
    await once(out, 'finish');
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('yields every row in bounded batches without holding the file in memory', async () => {
    // Measure what is RETAINED (heap after a full collection), not garbage V8 has yet to collect.
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    gc();
    const baseline = process.memoryUsage().heapUsed;
    let rows = 0;
    let batches = 0;
    let largestBatch = 0;
    let peakGrowth = 0;
    let lastTs = '';
    for await (const batch of readCsvBars(file, { batchSize: 10_000 })) {
      rows += batch.rows.length;
      batches += 1;
      largestBatch = Math.max(largestBatch, batch.rows.length);
      lastTs = batch.rows.at(-1)?.ts ?? lastTs;
      if (batches % 10 === 0) {
        gc();
        peakGrowth = Math.max(peakGrowth, process.memoryUsage().heapUsed - baseline);
      }
    }
    expect(rows).toBe(rowCount);
    expect(largestBatch).toBe(10_000);
    expect(lastTs).toBe(
      new Date(Date.parse('2020-01-01T00:00:00Z') + (rowCount - 1) * 60_000)
        .toISOString()
        .replace('.000Z', 'Z'),
    );
    // The file is ~70 MB and 1M row objects would take several hundred MB of heap; a stream holds
    // about one batch (10,000 rows, a few MB) plus the parser's buffers.
    expect(peakGrowth).toBeLessThan(32 * 1024 * 1024);
  }, 120_000);
});
