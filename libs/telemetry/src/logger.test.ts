import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from './logger.ts';
import { startInMemoryTracing, type InMemoryTracing } from './test-support/in-memory-tracing.ts';

const SENTINELS = [
  'hunter2-sentinel',
  'sasl-sentinel',
  'token-sentinel',
  'url-sentinel',
  'err-sentinel',
  'child-sentinel',
];

function captureLogger(level: 'info' | 'debug' = 'info') {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      lines.push(
        ...chunk
          .toString('utf8')
          .split('\n')
          .filter((line) => line !== ''),
      );
      callback();
    },
  });
  const log = createLogger({ name: 'logger-test', level, destination });
  const records = () => lines.map((line) => JSON.parse(line) as Record<string, unknown>);
  return { log, lines, records };
}

describe('createLogger', () => {
  let tracing: InMemoryTracing;
  beforeAll(() => {
    tracing = startInMemoryTracing();
  });
  afterAll(async () => {
    await tracing.stop();
  });

  it('writes JSON lines with name, level label and message', () => {
    const { log, records } = captureLogger();
    log.info({ topic: 'market.bars.v1' }, 'consumer started');
    log.debug('below the level');
    expect(records()).toEqual([
      expect.objectContaining({
        name: 'logger-test',
        level: 'info',
        msg: 'consumer started',
        topic: 'market.bars.v1',
      }),
    ]);
    expect(records()[0]).not.toHaveProperty('trace_id');
  });

  it('never lets a sentinel secret reach the output, whatever path it takes', () => {
    const { log, lines, records } = captureLogger();
    log.info(
      { database: { password: 'hunter2-sentinel' }, kafka: { sasl: { password: 'sasl-sentinel' } } },
      'config loaded',
    );
    log.warn({ headers: { authorization: 'Bearer token-sentinel' } }, 'provider answered 401');
    log.info('connecting to postgres://app:url-sentinel@db:5432/backbone');
    log.info('connecting to %s', 'redis://:url-sentinel@cache:6379');
    log.error(new Error('connect failed for postgres://app:err-sentinel@db/backbone'));
    log.error({ err: new Error('auth failed token=err-sentinel') }, 'ingest failed');
    log.child({ url: 'postgres://app:child-sentinel@db/backbone' }).info('child logger');
    log.child({ worker: 'stream-bridge' }).child({ token: 'child-sentinel' }).info('grandchild logger');

    const output = lines.join('\n');
    for (const sentinel of SENTINELS) expect(output).not.toContain(sentinel);

    const [config, provider, plain, formatted, errorOnly, errorWithMessage, child, grandchild] = records();
    expect(config).toMatchObject({ database: { password: '***' }, kafka: { sasl: { password: '***' } } });
    expect(provider).toMatchObject({ headers: { authorization: '***' } });
    expect(plain?.['msg']).toBe('connecting to postgres://app:***@db:5432/backbone');
    expect(formatted?.['msg']).toBe('connecting to redis://:***@cache:6379');
    // An Error logged on its own keeps its (redacted) message as the line's message.
    expect(errorOnly?.['msg']).toBe('connect failed for postgres://app:***@db/backbone');
    expect(errorOnly).toMatchObject({
      err: { message: 'connect failed for postgres://app:***@db/backbone' },
    });
    expect(errorWithMessage).toMatchObject({
      msg: 'ingest failed',
      err: { message: 'auth failed token=***' },
    });
    expect(child).toMatchObject({ url: 'postgres://app:***@db/backbone', msg: 'child logger' });
    expect(grandchild).toMatchObject({ worker: 'stream-bridge', token: '***', msg: 'grandchild logger' });
  });

  it('mixes in the trace and span id of the active span', () => {
    const { log, records } = captureLogger();
    const span = tracing.tracer.startActiveSpan('logging span', (active) => {
      log.info('inside the span');
      active.end();
      return active;
    });
    log.info('outside the span');

    const [inside, outside] = records();
    expect(inside).toMatchObject({
      trace_id: span.spanContext().traceId,
      span_id: span.spanContext().spanId,
    });
    expect(inside?.['trace_id']).toMatch(/^[0-9a-f]{32}$/);
    expect(outside).not.toHaveProperty('trace_id');
  });
});
