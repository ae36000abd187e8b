import { describe, expect, it } from 'vitest';
import { backbone } from '../e2e/processes.ts';

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
