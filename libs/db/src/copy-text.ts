/**
 * Encoding of values for COPY ... FROM STDIN in PostgreSQL's text format: columns separated by
 * tabs, rows by newlines, NULL as \N, and backslash, tab, newline and carriage return escaped
 * inside values. Text format is the fastest COPY input and needs no quoting rules beyond these.
 */
const NULL = '\\N';

export function copyText(value: string | null | undefined): string {
  if (value === null || value === undefined) return NULL;
  return value.replace(/[\\\t\n\r]/g, (char) => {
    switch (char) {
      case '\\':
        return '\\\\';
      case '\t':
        return '\\t';
      case '\n':
        return '\\n';
      default:
        return '\\r';
    }
  });
}

/** A finite number as text; PostgreSQL's float8 input reads JavaScript's shortest round-trip form exactly. */
export function copyNumber(value: number | null | undefined): string {
  if (value === null || value === undefined) return NULL;
  return String(value);
}

export function copyTimestamp(value: Date): string {
  return value.toISOString();
}
