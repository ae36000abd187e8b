/**
 * NYSE full-day closures and 13:00 ET early closes, 2024–2027.
 *
 * Source: NYSE "Holidays and Trading Hours" (nyse.com/markets/hours-calendars), as published for
 * 2024–2027, plus the unscheduled closure of 2025-01-09 (national day of mourning for President
 * Carter). Rules the list follows: a holiday on Saturday is observed the Friday before, on Sunday
 * the Monday after, except New Year's Day on a Saturday (not observed, e.g. 2028-01-01). Early
 * closes: the day before Independence Day (when it is a weekday session), the day after
 * Thanksgiving, Christmas Eve (when it is a weekday session and not itself the observed holiday).
 *
 * Update this table when NYSE publishes a new year; the calendar refuses dates outside it rather
 * than guessing.
 */
export const NYSE_KNOWN_YEARS = { first: 2024, last: 2027 } as const;

export const NYSE_HOLIDAYS: ReadonlySet<string> = new Set([
  // 2024
  '2024-01-01', // New Year's Day
  '2024-01-15', // Martin Luther King, Jr. Day
  '2024-02-19', // Washington's Birthday
  '2024-03-29', // Good Friday
  '2024-05-27', // Memorial Day
  '2024-06-19', // Juneteenth
  '2024-07-04', // Independence Day
  '2024-09-02', // Labor Day
  '2024-11-28', // Thanksgiving Day
  '2024-12-25', // Christmas Day
  // 2025
  '2025-01-01', // New Year's Day
  '2025-01-09', // National Day of Mourning (President Carter)
  '2025-01-20', // Martin Luther King, Jr. Day
  '2025-02-17', // Washington's Birthday
  '2025-04-18', // Good Friday
  '2025-05-26', // Memorial Day
  '2025-06-19', // Juneteenth
  '2025-07-04', // Independence Day
  '2025-09-01', // Labor Day
  '2025-11-27', // Thanksgiving Day
  '2025-12-25', // Christmas Day
  // 2026
  '2026-01-01', // New Year's Day
  '2026-01-19', // Martin Luther King, Jr. Day
  '2026-02-16', // Washington's Birthday
  '2026-04-03', // Good Friday
  '2026-05-25', // Memorial Day
  '2026-06-19', // Juneteenth
  '2026-07-03', // Independence Day (observed; July 4 is a Saturday)
  '2026-09-07', // Labor Day
  '2026-11-26', // Thanksgiving Day
  '2026-12-25', // Christmas Day
  // 2027
  '2027-01-01', // New Year's Day
  '2027-01-18', // Martin Luther King, Jr. Day
  '2027-02-15', // Washington's Birthday
  '2027-03-26', // Good Friday
  '2027-05-31', // Memorial Day
  '2027-06-18', // Juneteenth (observed; June 19 is a Saturday)
  '2027-07-05', // Independence Day (observed; July 4 is a Sunday)
  '2027-09-06', // Labor Day
  '2027-11-25', // Thanksgiving Day
  '2027-12-24', // Christmas Day (observed; December 25 is a Saturday)
]);

/** Sessions that close at 13:00 America/New_York instead of 16:00. */
export const NYSE_EARLY_CLOSES: ReadonlySet<string> = new Set([
  '2024-07-03',
  '2024-11-29',
  '2024-12-24',
  '2025-07-03',
  '2025-11-28',
  '2025-12-24',
  '2026-11-27',
  '2026-12-24',
  '2027-11-26',
]);
