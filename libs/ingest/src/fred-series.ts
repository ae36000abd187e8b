import type { FredSeriesSpec } from '@backbone/market-sources';

/**
 * The FRED series `--provider fred` tracks, with the release that publishes each (FRED release
 * ids) and its usual release time. The config has no series list yet, so this small catalog is
 * the list: `--symbols` (or a plan's symbols) picks from it, default all of it. Release times are
 * 08:30 New York as UTC in winter (13:30); FRED itself gives dates only, see docs/ingestor.md.
 *
 * @example DEFAULT_FRED_SERIES.find((spec) => spec.seriesId === 'PAYEMS')?.releaseId // 50
 */
export const DEFAULT_FRED_SERIES: readonly FredSeriesSpec[] = [
  {
    seriesId: 'CPIAUCSL',
    releaseId: 10,
    name: 'CPI (all urban consumers)',
    importance: 'high',
    releaseTimeUtc: '13:30',
  },
  {
    seriesId: 'UNRATE',
    releaseId: 50,
    name: 'Unemployment Rate',
    importance: 'high',
    releaseTimeUtc: '13:30',
  },
  {
    seriesId: 'PAYEMS',
    releaseId: 50,
    name: 'Nonfarm Payrolls',
    importance: 'high',
    releaseTimeUtc: '13:30',
  },
  {
    seriesId: 'GDP',
    releaseId: 53,
    name: 'Gross Domestic Product',
    importance: 'high',
    releaseTimeUtc: '13:30',
  },
];
