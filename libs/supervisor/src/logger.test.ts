import { describe, expect, it } from 'vitest';
import { createJsonLinesLogger } from './logger.ts';

describe('createJsonLinesLogger', () => {
  it('writes one JSON object per line with level, time and msg, secrets redacted', () => {
    const lines: string[] = [];
    const logger = createJsonLinesLogger((line) => lines.push(line));
    logger.error(
      {
        child: 'consumer',
        err: new Error('auth failed for postgres://app:hunter2@db/backbone'),
        apiKey: 'k-123',
      },
      'child failed',
    );
    logger.info({ child: 'consumer' }, 'child started');

    expect(lines).toHaveLength(2);
    expect(lines.every((line) => line.endsWith('\n') && !line.slice(0, -1).includes('\n'))).toBe(true);
    const first = JSON.parse(lines[0] ?? '') as Record<string, unknown>;
    expect(first).toMatchObject({ level: 'error', child: 'consumer', apiKey: '***', msg: 'child failed' });
    expect(first.err).toMatchObject({
      name: 'Error',
      message: 'auth failed for postgres://app:***@db/backbone',
    });
    expect(typeof first.time).toBe('string');
    expect(lines.join('')).not.toMatch(/hunter2|k-123/);
    expect(JSON.parse(lines[1] ?? '')).toMatchObject({ level: 'info', msg: 'child started' });
  });
});
