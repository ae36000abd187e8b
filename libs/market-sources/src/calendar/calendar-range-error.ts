/** A calendar was asked about dates it has no reliable data for (e.g. NYSE holidays after 2027). */
export class CalendarRangeError extends Error {
  override readonly name = 'CalendarRangeError';
  readonly calendar: string;
  readonly date: string;

  constructor(calendar: string, date: string, message: string) {
    super(message);
    this.calendar = calendar;
    this.date = date;
  }
}
