/**
 * C0 and C1 control characters (NUL, bell, a bare CR, escape sequences, DEL, …): never part of a
 * symbol, a number or a date. PostgreSQL refuses NUL in any text value, so a NUL that reached a
 * statement would fail the whole transaction; the rows that carry one are rejected instead, and
 * what is stored about them (the rejection's detail) shows the characters escaped.
 */
const CONTROL = /[\u0000-\u001F\u007F-\u009F]/;
const CONTROL_ALL = /[\u0000-\u001F\u007F-\u009F]/g;

/** True when `text` contains a control character. */
export function hasControlCharacter(text: string): boolean {
  return CONTROL.test(text);
}

/**
 * `text` with every control character written as `\uXXXX`, safe to store and to print.
 *
 * @example escapeControlCharacters('EUR\u0000USD') // 'EUR\\u0000USD'
 */
export function escapeControlCharacters(text: string): string {
  return text.replace(CONTROL_ALL, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
