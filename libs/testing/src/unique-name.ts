import { randomBytes } from 'node:crypto';

/**
 * A name no other test file or run uses: for a schema, topic, consumer group, queue or Redis key
 * namespace. Lower-case, so it is also a valid SQL identifier (`^[a-z_][a-z0-9_]{0,62}$`).
 *
 * @example const schema = uniqueName('bars'); // "t_bars_4f1c2a9e"
 */
export function uniqueName(prefix: string): string {
  const safePrefix = prefix
    .toLowerCase()
    .replace(/[^a-z0-9_]/g, '_')
    .slice(0, 40);
  return `t_${safePrefix}_${randomBytes(4).toString('hex')}`;
}
