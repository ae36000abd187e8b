import { createServer, type AddressInfo } from 'node:net';
import { testEndpoints, uniqueName } from '@backbone/testing';
import { describe, expect, it } from 'vitest';
import { backbone, jsonLines } from '../e2e/processes.ts';

// Every worker loads its configuration the same way (@backbone/worker-runtime): an invalid one
// is one message naming every bad path and its source, exit code 2, and nothing started.
describe('./backbone serve <worker> with an invalid configuration', { timeout: 60_000 }, () => {
  it.each([
    ['stream-bridge', 'streamBridge'],
    ['timescale-ingestor', 'timescaleIngestor'],
    ['cache-warmer', 'cacheWarmer'],
    ['readiness-reporter', 'readinessReporter'],
  ])('%s exits 2 naming every bad key and where it came from', async (worker, configName) => {
    const outcome = await backbone(
      ['serve', worker, '--set', `workers.${configName}.port=abc`, '--set', 'kafka.brokerz=x'],
      { PATH: '/usr/bin:/bin', BACKBONE_REDIS__KEY_NAMESPACE: 'Not A Namespace' },
      30_000,
    );
    expect(outcome.code).toBe(2);
    expect(outcome.stderr).toContain('Invalid configuration (3 problems)');
    expect(outcome.stderr).toContain(`workers.${configName}.port`);
    expect(outcome.stderr).toContain('[from --set kafka.brokerz]');
    expect(outcome.stderr).toMatch(/redis\.keyNamespace: .*\[from env BACKBONE_REDIS__KEY_NAMESPACE\]/);
    // A message, not a crash: no stack trace, and no worker output (nothing started).
    expect(outcome.stderr).not.toMatch(/^\s+at /m);
    expect(outcome.stdout).toBe('');
  });
});

describe('./backbone serve <worker> on a port another process holds', { timeout: 60_000 }, () => {
  it('finding 4.5: readiness-reporter exits 1 at once, naming the port and the pid holding it', async () => {
    const { redisUrl, kafkaBrokers } = testEndpoints();
    const held = createServer();
    await new Promise<void>((resolve) => held.listen(0, '127.0.0.1', resolve));
    const port = (held.address() as AddressInfo).port;
    try {
      const outcome = await backbone(
        [
          'serve',
          'readiness-reporter',
          '--set',
          `redis.url=${redisUrl}`,
          '--set',
          `redis.keyNamespace=${uniqueName('life_held')}:`,
          '--set',
          `workers.readinessReporter.port=${port}`,
        ],
        { PATH: '/usr/bin:/bin', KAFKA_BROKERS: kafkaBrokers.join(',') },
        45_000,
      );
      expect(outcome.code).toBe(1);
      const failed = jsonLines(outcome.stdout + outcome.stderr).find(
        (line) => line.msg === 'process start-up failed',
      );
      expect(failed, outcome.stdout + outcome.stderr).toMatchObject({
        err: {
          name: 'PortInUseError',
          message: expect.stringContaining(
            `port ${port} on 127.0.0.1 is already in use by pid ${process.pid}`,
          ) as unknown,
        },
      });
    } finally {
      await new Promise<void>((resolve) => {
        held.close(() => {
          resolve();
        });
      });
    }
  });
});
