import { alignTimestamp, timeframeMs, type Timeframe } from '@backbone/contracts';
import type { AssetClass } from './asset-class.ts';
import { CalendarRangeError } from './calendar-range-error.ts';
import { NYSE_EARLY_CLOSES, NYSE_HOLIDAYS, NYSE_KNOWN_YEARS } from './nyse-holidays.ts';

/**
 * `fx-24x5`: spot FX trades continuously from Sunday 22:00 UTC to Friday 22:00 UTC. Each trading
 * date D (Monday–Friday) is the session D-1 22:00 → D 22:00 UTC (the New York 17:00 roll, fixed
 * in UTC: the DST shift of the roll is deliberately ignored). Market holidays (25 Dec, 1 Jan) are
 * thin but traded, so they count as sessions.
 *
 * `nyse`: US equities, regular session 09:30–16:00 America/New_York (13:00 on early closes),
 * converted to UTC with the real DST rules, closed on weekends and the official holidays.
 */
export type TradingCalendar = 'fx-24x5' | 'nyse';

/** One trading session: its trading date and the UTC instants it opens and closes (ms). */
export interface TradingSession {
  date: string;
  open: number;
  close: number;
}

const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;

/** @example calendarForAssetClass('fx') // 'fx-24x5' */
export function calendarForAssetClass(assetClass: AssetClass): TradingCalendar {
  return assetClass === 'fx' ? 'fx-24x5' : 'nyse';
}

/**
 * Every session whose trading date lies in [from, to) (UTC dates), in time order.
 *
 * @example tradingSessions('nyse', new Date('2026-11-23'), new Date('2026-11-28')) // 4 sessions, Thanksgiving missing
 */
export function tradingSessions(calendar: TradingCalendar, from: Date, to: Date): TradingSession[] {
  const sessions: TradingSession[] = [];
  for (let day = startOfUtcDay(from.getTime()); day < to.getTime(); day += DAY_MS) {
    const session = sessionOn(calendar, day);
    if (session !== undefined) sessions.push(session);
  }
  return sessions;
}

/**
 * The open times (epoch ms, ascending) of every bar the calendar expects in [from, to).
 * Intraday bars are the timeframe-aligned buckets that overlap a session (so a 1h calendar for
 * NYSE includes the 13:00 UTC bucket of a 13:30 UTC open); daily bars are stamped 00:00 UTC of the
 * trading date, weekly and monthly bars at the aligned open (Monday, the 1st) of every week or
 * month that has a session.
 *
 * @example expectedBarTimes('fx-24x5', '1d', new Date('2026-11-16'), new Date('2026-11-23')).length // 5
 */
export function expectedBarTimes(
  calendar: TradingCalendar,
  timeframe: Timeframe,
  from: Date,
  to: Date,
): number[] {
  const fromMs = from.getTime();
  const toMs = to.getTime();
  if (!(fromMs < toMs)) return [];
  const times: number[] = [];
  const stepMs = timeframeMs[timeframe];
  if (stepMs >= DAY_MS) {
    // Sessions of a week or month can lie before `from` while its bar opens inside the window.
    const scanFrom = new Date(fromMs - (timeframe === '1d' ? 0 : 31 * DAY_MS));
    for (const session of tradingSessions(calendar, scanFrom, to)) {
      const ts = alignTimestamp(new Date(`${session.date}T00:00:00Z`), timeframe).getTime();
      if (ts >= fromMs && ts < toMs && ts !== times.at(-1)) times.push(ts);
    }
    return times;
  }
  // A session that overlaps [from, to) can start up to one day before `from` (FX opens at 22:00
  // on the previous day) and no session opens after `to`.
  const sessions = tradingSessions(calendar, new Date(fromMs - DAY_MS), new Date(toMs + DAY_MS));
  let last = Number.NEGATIVE_INFINITY;
  for (const session of sessions) {
    for (let ts = Math.floor(session.open / stepMs) * stepMs; ts < session.close; ts += stepMs) {
      // Adjacent FX sessions share the 22:00 boundary bucket only when the step does not divide
      // the day; never emit a time twice.
      if (ts >= fromMs && ts < toMs && ts > last) {
        times.push(ts);
        last = ts;
      }
    }
  }
  return times;
}

function sessionOn(calendar: TradingCalendar, dayMs: number): TradingSession | undefined {
  const weekday = new Date(dayMs).getUTCDay();
  if (weekday === 0 || weekday === 6) return undefined;
  const date = new Date(dayMs).toISOString().slice(0, 10);
  if (calendar === 'fx-24x5') {
    return { date, open: dayMs - 2 * HOUR_MS, close: dayMs + 22 * HOUR_MS };
  }
  const year = Number(date.slice(0, 4));
  if (year < NYSE_KNOWN_YEARS.first || year > NYSE_KNOWN_YEARS.last) {
    throw new CalendarRangeError(
      calendar,
      date,
      `NYSE holidays are known for ${NYSE_KNOWN_YEARS.first}-${NYSE_KNOWN_YEARS.last} only; ${date} is outside`,
    );
  }
  if (NYSE_HOLIDAYS.has(date)) return undefined;
  const offsetMs = newYorkOffsetMs(dayMs + 12 * HOUR_MS);
  const open = dayMs + 9.5 * HOUR_MS - offsetMs;
  const close = dayMs + (NYSE_EARLY_CLOSES.has(date) ? 13 : 16) * HOUR_MS - offsetMs;
  return { date, open, close };
}

const newYorkOffsetFormat = new Intl.DateTimeFormat('en-US', {
  timeZone: 'America/New_York',
  timeZoneName: 'longOffset',
});

/** UTC offset of New York at `instant` in ms (-4 h in summer, -5 h in winter). */
function newYorkOffsetMs(instant: number): number {
  const zone = newYorkOffsetFormat.formatToParts(instant).find((part) => part.type === 'timeZoneName');
  const match = /GMT([+-])(\d{2}):(\d{2})/.exec(zone?.value ?? '');
  if (match === null) throw new Error(`cannot read the America/New_York offset (${zone?.value ?? 'none'})`);
  const [, sign, hours, minutes] = match;
  const magnitude = (Number(hours) * 60 + Number(minutes)) * 60_000;
  return sign === '-' ? -magnitude : magnitude;
}

function startOfUtcDay(ms: number): number {
  return Math.floor(ms / DAY_MS) * DAY_MS;
}
