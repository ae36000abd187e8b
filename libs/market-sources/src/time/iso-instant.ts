/**
 * The one strict reader of ISO-8601 instants for everything that enters the backbone as text: CSV
 * rows, FRED dates and the `--from`/`--to` options. `Date.parse` is not strict: it rolls an
 * impossible date over to another day (`2024-02-30` → 1 March, `24:00` → the next day), so a
 * typo would store a bar on a day nobody wrote. Here every field is range-checked against the
 * calendar (leap years included) and an impossible value is an error that says which field.
 */

/** A parsed instant; `dateOnly` when the text was `YYYY-MM-DD` (midnight UTC). */
export interface IsoInstant {
  ms: number;
  dateOnly: boolean;
}

/** Why a text is not an instant: `unparsable` (wrong shape) or `impossible` (a date or time that does not exist). */
export type IsoInstantProblem = { kind: 'unparsable' | 'impossible'; message: string };

export type IsoInstantResult = ({ ok: true } & IsoInstant) | ({ ok: false } & IsoInstantProblem);

// Date, then optionally a time with seconds, fraction (up to ns, kept to ms) and a mandatory zone.
const SHAPE =
  /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|([+-])(\d{2}):?(\d{2})))?$/;
const MONTHS = [
  'January',
  'February',
  'March',
  'April',
  'May',
  'June',
  'July',
  'August',
  'September',
  'October',
  'November',
  'December',
];
const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
const MINUTE_MS = 60_000;

/**
 * `YYYY-MM-DD` (midnight UTC) or `YYYY-MM-DDTHH:MM[:SS[.fff…]]` with `Z` or a `±HH:MM` offset.
 *
 * @example parseIsoInstant('2024-02-29T13:30:00Z') // { ok: true, ms: 1709213400000, dateOnly: false }
 * @example parseIsoInstant('2024-02-30') // { ok: false, kind: 'impossible', message: 'day 30 does not exist in February 2024' }
 */
export function parseIsoInstant(text: string): IsoInstantResult {
  const match = SHAPE.exec(text);
  if (match === null) {
    return {
      ok: false,
      kind: 'unparsable',
      message: 'is not an ISO-8601 date (YYYY-MM-DD) or date-time with a zone (Z or ±HH:MM)',
    };
  }
  const [, y, mo, d, h, mi, s, fraction, zone, sign, offH, offM] = match;
  const year = Number(y);
  const month = Number(mo);
  const day = Number(d);
  const impossible = (message: string): IsoInstantResult => ({ ok: false, kind: 'impossible', message });
  if (month < 1 || month > 12) return impossible(`month ${mo} does not exist`);
  const lastDay = month === 2 && isLeap(year) ? 29 : (DAYS_IN_MONTH[month - 1] ?? 31);
  if (day < 1 || day > lastDay) {
    return impossible(`day ${d} does not exist in ${MONTHS[month - 1] ?? mo} ${y}`);
  }
  const hour = Number(h ?? 0);
  const minute = Number(mi ?? 0);
  const second = Number(s ?? 0);
  if (hour > 23) return impossible(`hour ${h} does not exist (00-23; midnight is 00:00 of the next day)`);
  if (minute > 59) return impossible(`minute ${mi} does not exist`);
  if (second > 59) return impossible(`second ${s} does not exist (leap seconds are not represented)`);
  let offsetMinutes = 0;
  if (zone !== undefined && zone !== 'Z') {
    const offsetHours = Number(offH);
    const offsetMins = Number(offM);
    if (offsetHours > 23 || offsetMins > 59) return impossible(`zone offset ${zone} does not exist`);
    offsetMinutes = (sign === '-' ? -1 : 1) * (offsetHours * 60 + offsetMins);
  }
  // Date.UTC maps years 0-99 to 1900-1999; setUTCFullYear takes the year as written.
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  date.setUTCHours(hour, minute, second, Number((fraction ?? '0').padEnd(3, '0').slice(0, 3)));
  return { ok: true, ms: date.getTime() - offsetMinutes * MINUTE_MS, dateOnly: h === undefined };
}

function isLeap(year: number): boolean {
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
}
