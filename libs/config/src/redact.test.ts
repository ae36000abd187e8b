import { describe, expect, it } from 'vitest';
import { REDACTED, redact, redactText } from './redact.ts';

const SENTINEL = 'S3NTINEL-secret-91c2';

describe('redactText', () => {
  it.each([
    ['a database URL', `postgres://app:${SENTINEL}@db:5432/backbone`, 'postgres://app:***@db:5432/backbone'],
    ['a Redis URL without user', `rediss://:${SENTINEL}@cache:6380/0`, 'rediss://:***@cache:6380/0'],
    [
      'an API key in a query string',
      `https://api.stlouisfed.org/fred/releases/dates?api_key=${SENTINEL}&file_type=json`,
      'https://api.stlouisfed.org/fred/releases/dates?api_key=***&file_type=json',
    ],
    ['a key=value pair', `KAFKA_SASL_PASSWORD=${SENTINEL}`, 'KAFKA_SASL_PASSWORD=***'],
    ['a JSON pair', `{"password":"${SENTINEL}","user":"app"}`, '{"password":"***","user":"app"}'],
    ['a YAML pair', `  apiKey: ${SENTINEL}`, '  apiKey: ***'],
    ['a bearer token', `Authorization: Bearer ${SENTINEL}`, 'Authorization: Bearer ***'],
    [
      'a URL whose password has an unencoded @ and :',
      `postgres://app:${SENTINEL}@x:y@db:5432/backbone`,
      'postgres://app:***@db:5432/backbone',
    ],
    [
      'a URL whose user name has an @',
      `postgres://me@corp:${SENTINEL}@db/backbone`,
      'postgres://me@corp:***@db/backbone',
    ],
    [
      'two URLs in JSON text',
      `{"a":"redis://:${SENTINEL}@c:6379","b":"kafka://u:${SENTINEL}@k:9092"}`,
      '{"a":"redis://:***@c:6379","b":"kafka://u:***@k:9092"}',
    ],
  ])('hides the secret in %s', (_, input, expected) => {
    expect(redactText(input)).toBe(expected);
  });

  it.each([
    'consumer group stream-bridge lags 48210 messages on market.bars.v1[2]',
    'postgres://app@db:5432/backbone and redis://cache:6379/0',
    'http://127.0.0.1:8080/bars/EURUSD@1m?at=2026-11-26T10:00:00Z',
  ])('leaves text without secrets alone: %s', (text) => {
    expect(redactText(text)).toBe(text);
  });
});

describe('redact', () => {
  it('hides values under secret-named keys and secrets inside other strings, without mutating the input', () => {
    const input = {
      database: { url: `postgres://app:${SENTINEL}@db/backbone`, poolSize: 10 },
      kafka: { sasl: { mechanism: 'scram-sha-512', username: 'bridge', password: SENTINEL } },
      providers: [{ name: 'fred', apiKey: SENTINEL }],
    };
    const output = redact(input);
    expect(JSON.stringify(output)).not.toContain(SENTINEL);
    expect(output.kafka.sasl).toEqual({ mechanism: 'scram-sha-512', username: 'bridge', password: REDACTED });
    expect(output.database).toEqual({ url: 'postgres://app:***@db/backbone', poolSize: 10 });
    expect(input.kafka.sasl.password).toBe(SENTINEL);
  });

  it('turns errors into plain objects with message, stack and cause redacted', () => {
    const error = new Error(`connect to redis://:${SENTINEL}@cache failed`, {
      cause: new Error(`password=${SENTINEL}`),
    });
    const output = redact(error);
    expect(JSON.stringify(output)).not.toContain(SENTINEL);
    expect(output).toMatchObject({ name: 'Error', message: 'connect to redis://:***@cache failed' });
  });
});
