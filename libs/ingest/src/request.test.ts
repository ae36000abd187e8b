import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { IngestUsageError } from './errors/ingest-usage-error.ts';
import { parseIngestRequest } from './request.ts';

const NOW = new Date('2026-11-26T12:00:00Z');
const FIXTURE = join(import.meta.dirname, '../../../fixtures/bars/EURUSD-1d.csv');

function problemsOf(options: Parameters<typeof parseIngestRequest>[0]): string[] {
  try {
    parseIngestRequest(options, NOW);
  } catch (error) {
    if (error instanceof IngestUsageError) return error.problems.map((p) => `${p.field}: ${p.message}`);
    throw error;
  }
  throw new Error('expected an IngestUsageError');
}

describe('parseIngestRequest', () => {
  it('reads a yahoo request: symbols upper-cased and de-duplicated, a date-only end includes its day', () => {
    expect(
      parseIngestRequest(
        {
          provider: 'yahoo',
          symbols: 'eurusd, SPY,EURUSD',
          timeframe: '1h',
          from: '2026-11-01',
          to: '2026-11-20',
        },
        NOW,
      ),
    ).toEqual({
      provider: 'yahoo',
      symbols: ['EURUSD', 'SPY'],
      timeframe: '1h',
      window: { from: new Date('2026-11-01T00:00:00Z'), to: new Date('2026-11-21T00:00:00Z') },
    });
  });

  it('defaults the end to now and the timeframe to 1d', () => {
    const request = parseIngestRequest(
      { provider: 'yahoo', symbols: 'SPY', from: '2026-11-01T10:00:00+01:00' },
      NOW,
    );
    expect(request).toMatchObject({
      timeframe: '1d',
      window: { from: new Date('2026-11-01T09:00:00Z'), to: NOW },
    });
  });

  it('reads a csv request of existing files', () => {
    expect(parseIngestRequest({ provider: 'csv', files: [FIXTURE] }, NOW)).toEqual({
      provider: 'csv',
      files: [FIXTURE],
    });
  });

  it('names every problem at once: reversed range, bad symbol (not echoed), unknown timeframe', () => {
    const problems = problemsOf({
      provider: 'yahoo',
      symbols: "EURUSD,X'; DROP TABLE market_data.bars;--",
      timeframe: '4h',
      from: '2026-02-01',
      to: '2026-01-01',
    });
    expect(problems).toEqual([
      'symbols[1]: must be 1 to 32 characters of A-Z, 0-9, _ . = - (as in EURUSD or BRK.B)',
      expect.stringMatching(/^timeframe: "4h" is not one of 1m, 5m/),
      expect.stringMatching(/^to: reversed or empty date range/),
    ]);
    expect(problems.join(' ')).not.toContain('DROP');
  });

  it('refuses unknown providers, missing files and filters with csv', () => {
    expect(problemsOf({ provider: 'bloomberg' })).toEqual([
      'provider: unknown provider "bloomberg" (one of csv, yahoo, fred)',
    ]);
    expect(problemsOf({ provider: undefined })[0]).toMatch(/^provider: is required/);
    expect(problemsOf({ provider: 'csv', files: ['/nonexistent/bars.csv'] })).toEqual([
      'file: /nonexistent/bars.csv does not exist',
    ]);
    expect(problemsOf({ provider: 'csv', files: [FIXTURE], from: '2026-01-01' })[0]).toMatch(
      /^from: is not used with --provider csv/,
    );
  });

  it('reads a failover provider for yahoo, and refuses the same provider, an unknown one, or one without yahoo', () => {
    const request = parseIngestRequest(
      { provider: 'yahoo', symbols: 'EURUSD', from: '2026-11-01', fallback: 'csv' },
      NOW,
    );
    expect(request).toMatchObject({ provider: 'yahoo', fallbackProvider: 'csv' });
    expect(
      parseIngestRequest({ provider: 'yahoo', symbols: 'EURUSD', from: '2026-11-01' }, NOW),
    ).not.toHaveProperty('fallbackProvider');
    expect(
      problemsOf({ provider: 'yahoo', symbols: 'EURUSD', from: '2026-11-01', fallback: 'yahoo' }),
    ).toEqual(['fallback: must differ from --provider (yahoo)']);
    expect(
      problemsOf({ provider: 'yahoo', symbols: 'EURUSD', from: '2026-11-01', fallback: 'fred' }),
    ).toEqual(['fallback: "fred" is not a bar provider (one of csv, yahoo)']);
    expect(problemsOf({ provider: 'csv', files: [FIXTURE], fallback: 'yahoo' })[0]).toMatch(
      /^fallback: is not used with --provider csv/,
    );
    expect(problemsOf({ provider: 'fred', from: '2026-10-01', fallback: 'csv' })).toContain(
      'fallback: is not used with --provider fred',
    );
  });

  it('reads providers to merge with yahoo, and refuses itself, unknown or non-bar ones, duplicates, a fallback too, or csv/fred', () => {
    const yahoo = { provider: 'yahoo', symbols: 'EURUSD', from: '2026-11-01' };
    expect(parseIngestRequest({ ...yahoo, mergeWith: 'csv' }, NOW)).toMatchObject({
      provider: 'yahoo',
      mergeWith: ['csv'],
    });
    expect(parseIngestRequest({ ...yahoo, mergeWith: ['csv'], driftThresholdPct: '1.5' }, NOW)).toMatchObject(
      {
        mergeWith: ['csv'],
        driftThresholdPct: 1.5,
      },
    );
    expect(parseIngestRequest(yahoo, NOW)).not.toHaveProperty('mergeWith');
    expect(problemsOf({ ...yahoo, mergeWith: 'yahoo' })).toEqual([
      'mergeWith: must differ from --provider (yahoo): a source merged with itself',
    ]);
    expect(problemsOf({ ...yahoo, mergeWith: 'csv,fred,csv' })).toEqual([
      'mergeWith[1]: "fred" is not a bar provider (one of csv, yahoo)',
      'mergeWith[2]: "csv" is listed twice',
    ]);
    expect(problemsOf({ ...yahoo, mergeWith: ' , ' })).toEqual([
      'mergeWith: names no provider (a comma-separated list such as csv)',
    ]);
    expect(problemsOf({ ...yahoo, mergeWith: 'csv', fallback: 'csv' })).toEqual([
      'mergeWith: is not used with fallback: a merge goes on with the sources that answer, so list the fallback in mergeWith instead',
    ]);
    expect(problemsOf({ ...yahoo, mergeWith: 'csv', driftThresholdPct: '0' })).toEqual([
      'driftThresholdPct: must be a number above 0 and at most 100 (percent)',
    ]);
    expect(problemsOf({ ...yahoo, driftThresholdPct: 1 })).toEqual([
      'driftThresholdPct: is only used with mergeWith',
    ]);
    expect(problemsOf({ provider: 'csv', files: [FIXTURE], mergeWith: 'yahoo' })[0]).toMatch(
      /^mergeWith: is not used with --provider csv/,
    );
    expect(problemsOf({ provider: 'fred', from: '2026-10-01', mergeWith: 'csv' })).toContain(
      'mergeWith: is not used with --provider fred',
    );
  });

  it('reads a fred request: all tracked series by default, or the ones named', () => {
    const all = parseIngestRequest({ provider: 'fred', from: '2026-10-01', to: '2026-12-31' }, NOW);
    expect(all).toMatchObject({
      provider: 'fred',
      window: { from: new Date('2026-10-01T00:00:00Z'), to: new Date('2027-01-01T00:00:00Z') },
    });
    expect(all.provider === 'fred' && all.series.map((spec) => spec.seriesId)).toEqual([
      'CPIAUCSL',
      'UNRATE',
      'PAYEMS',
      'GDP',
    ]);
    const some = parseIngestRequest(
      { provider: 'fred', symbols: 'payems, CPIAUCSL', from: '2026-10-01' },
      NOW,
    );
    expect(some.provider === 'fred' && some.series.map((spec) => [spec.seriesId, spec.releaseId])).toEqual([
      ['CPIAUCSL', 10],
      ['PAYEMS', 50],
    ]);
  });

  it('refuses fred requests with unknown series, a timeframe, files or no start', () => {
    expect(
      problemsOf({ provider: 'fred', symbols: 'PAYEMS,NOPE', timeframe: '1d', files: [FIXTURE] }),
    ).toEqual([
      'file: is only used with --provider csv',
      'timeframe: is not used with --provider fred (macro events have none)',
      'symbols[1]: NOPE is not a tracked FRED series (one of CPIAUCSL, UNRATE, PAYEMS, GDP)',
      'from: is required with --provider fred',
    ]);
  });

  it('refuses impossible dates and missing starts', () => {
    expect(problemsOf({ provider: 'yahoo', symbols: 'SPY', from: '2026-02-30' })[0]).toMatch(
      /^from: "2026-02-30" is not a date/,
    );
    expect(problemsOf({ provider: 'yahoo', symbols: 'SPY' })).toContain(
      'from: is required with --provider yahoo',
    );
  });

  it('finding 1.5: an impossible --from/--to date-time is refused naming the option, never rolled over to another day', () => {
    expect(
      problemsOf({
        provider: 'yahoo',
        symbols: 'SPY',
        from: '2024-02-30T00:00:00Z',
        to: '2024-03-05T24:00:00Z',
      }),
    ).toEqual([
      'from: "2024-02-30T00:00:00Z" is not a date: day 30 does not exist in February 2024',
      'to: "2024-03-05T24:00:00Z" is not a date: hour 24 does not exist (00-23; midnight is 00:00 of the next day)',
    ]);
    expect(problemsOf({ provider: 'fred', from: '2024-13-01T00:00:00Z' })).toEqual([
      'from: "2024-13-01T00:00:00Z" is not a date: month 13 does not exist',
    ]);
  });
});
