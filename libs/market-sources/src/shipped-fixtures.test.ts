import { parseBar, type BarRuleOptions, type Timeframe } from '@backbone/contracts';
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { assetClassOf } from './calendar/asset-class.ts';
import { calendarForAssetClass } from './calendar/trading-calendar.ts';
import { readCsvBars } from './providers/csv-provider.ts';
import { assessQuality } from './quality/assess-quality.ts';
import type { UnvalidatedBar } from './types.ts';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const fixturesDir = join(root, 'fixtures/bars');

async function readAll(file: string): Promise<{ rows: UnvalidatedBar[]; rejected: number }> {
  const rows: UnvalidatedBar[] = [];
  let rejected = 0;
  for await (const batch of readCsvBars(file)) {
    rows.push(...batch.rows);
    rejected += batch.rejections.length;
  }
  return { rows, rejected };
}

describe('the shipped fixtures', () => {
  const cases: [string, Timeframe, string, string, number][] = [
    // symbol, timeframe, from, to (exclusive), rows
    ['EURUSD', '1d', '2024-11-18', '2026-11-21', 525],
    ['GBPUSD', '1d', '2024-11-18', '2026-11-21', 525],
    ['USDJPY', '1d', '2024-11-18', '2026-11-21', 525],
    ['SPY', '1d', '2024-11-18', '2026-11-21', 504],
    ['EURUSD', '1m', '2026-11-15T22:00:00Z', '2026-11-20T22:00:00Z', 7200],
    ['GBPUSD', '1m', '2026-11-15T22:00:00Z', '2026-11-20T22:00:00Z', 7200],
    ['USDJPY', '1m', '2026-11-15T22:00:00Z', '2026-11-20T22:00:00Z', 7200],
    ['SPY', '1m', '2026-11-16', '2026-11-21', 1950],
  ];

  it.each(cases)(
    '%s %s: full coverage on its trading calendar, no gaps, no false ticks, consistent OHLC',
    async (symbol, timeframe, from, to, count) => {
      const { rows, rejected } = await readAll(join(fixturesDir, `${symbol}-${timeframe}.csv`));
      expect(rejected).toBe(0);
      expect(rows).toHaveLength(count);
      // Every row passes the market bar v1 contract the pipeline validates with.
      const rules: BarRuleOptions = { now: () => new Date(to), maxFutureSkewMs: 0 };
      expect(rows.filter((row) => !parseBar(row, rules).ok)).toEqual([]);
      for (const row of rows) {
        expect(row.symbol).toBe(symbol);
        expect(row.timeframe).toBe(timeframe);
        const { open, high, low, close } = row;
        if (open === null || high === null || low === null || close === null)
          throw new Error(`null price at ${row.ts}`);
        expect(high).toBeGreaterThanOrEqual(Math.max(open, close));
        expect(low).toBeLessThanOrEqual(Math.min(open, close));
        expect(low).toBeGreaterThan(0);
      }
      const report = assessQuality(
        rows.map((row) => ({ ts: row.ts, close: row.close ?? Number.NaN })),
        {
          calendar: calendarForAssetClass(assetClassOf(symbol)),
          timeframe,
          from: new Date(from),
          to: new Date(to),
          now: new Date(to),
          freshnessSlaSeconds: 86_400,
        },
      );
      expect(report).toMatchObject({
        coverage: 1,
        offCalendarBars: 0,
        gapCount: 0,
        falseTickCount: 0,
        stale: false,
      });
    },
  );

  it('are exactly what the seeded generator produces', async () => {
    const out = await mkdtemp(join(tmpdir(), 'fixtures-'));
    try {
      await promisify(execFile)(process.execPath, [join(root, 'tools/fixtures/generate.ts'), '--out', out], {
        cwd: root,
      });
      const generated = (await readdir(out)).sort();
      expect(generated).toEqual((await readdir(fixturesDir)).filter((f) => f.endsWith('.csv')).sort());
      for (const name of generated) {
        expect(await readFile(join(out, name), 'utf8'), name).toBe(
          await readFile(join(fixturesDir, name), 'utf8'),
        );
      }
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  }, 60_000);
});
