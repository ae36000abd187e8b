/**
 * The one redaction function. Logs, reports, manifests, error messages and `config print` all
 * pass through it, so a secret has exactly one place to be caught. (Metric label values do not:
 * they must never carry configuration values at all, see docs/observability.md.)
 */

export const REDACTED = '***';

/** Keys whose values are secrets wherever they appear (objects, query strings, `key=value` text). */
const SECRET_KEY =
  /(pass(word|wd)?|secret|token|api[-_]?key|apikey|credential|private[-_]?key|authorization|sasl[-_]?password)/i;

const TEXT_PATTERNS: readonly [RegExp, string][] = [
  // user:password@ in any URL (postgres://, redis://, rediss://, http://, kafka SASL URLs …). The
  // password runs to the LAST @ of the authority, as URL parsers read it: an unencoded `@` or `:`
  // in a password (`postgres://app:p@ss:w0rd@db/x`, which z.url() accepts) must not leave its tail
  // visible, and a user name may contain `@` too. Quotes end it, so JSON text keeps its structure.
  [/\b([a-z][a-z0-9+.-]*:\/\/[^:/?#\s"'`<>]*):([^/?#\s"'`<>]*)@/gi, `$1:${REDACTED}@`],
  // key=value and key: value pairs, in query strings, env dumps, YAML and JSON text
  [
    /\b([\w.-]*(?:pass(?:word|wd)?|secret|token|api[-_]?key|apikey|credential|private[-_]?key)[\w.-]*)("?\s*[=:]\s*"?)([^"&\s,;}]+)/gi,
    `$1$2${REDACTED}`,
  ],
  // HTTP authorization headers
  [/\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+/g, `$1 ${REDACTED}`],
];

/**
 * Replaces every secret in a piece of text with `***`.
 *
 * @example redactText('postgres://app:hunter2@db/backbone') // 'postgres://app:***@db/backbone'
 */
export function redactText(text: string): string {
  let result = text;
  for (const [pattern, replacement] of TEXT_PATTERNS) result = result.replace(pattern, replacement);
  return result;
}

/**
 * Returns a deep copy of `value` in which every secret is `***`: values under secret-named keys
 * whole, and secrets embedded in any other string (URLs with passwords, `api_key=` query strings).
 * Errors become plain objects with their message, name and cause redacted.
 *
 * @example redact({ url: 'redis://:s3cret@cache:6379', sasl: { password: 'x' } })
 *   // { url: 'redis://:***@cache:6379', sasl: { password: '***' } }
 */
export function redact<T>(value: T): T {
  return redactValue(value, new WeakSet()) as T;
}

function redactValue(value: unknown, seen: WeakSet<object>): unknown {
  if (typeof value === 'string') return redactText(value);
  if (value === null || typeof value !== 'object') return value;
  if (seen.has(value)) return '[Circular]';
  seen.add(value);
  if (value instanceof Error) {
    return {
      name: value.name,
      message: redactText(value.message),
      ...(value.stack === undefined ? {} : { stack: redactText(value.stack) }),
      ...(value.cause === undefined ? {} : { cause: redactValue(value.cause, seen) }),
    };
  }
  if (Array.isArray(value)) return value.map((item: unknown) => redactValue(item, seen));
  if (value instanceof Date) return value;
  const copy: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    copy[key] =
      SECRET_KEY.test(key) && item !== null && item !== undefined && item !== ''
        ? REDACTED
        : redactValue(item, seen);
  }
  return copy;
}
