import { describe, expect, it } from 'vitest';
import { backbone, type CommandOutcome } from '../e2e/processes.ts';

const SENTINELS = {
  database: 'S3NTINEL-db-7f21',
  sasl: 'S3NTINEL-sasl-0c9e',
  fred: 'S3NTINEL-fred-b44d',
};

/** Environment for the child: a fixed minimal one, so nothing from the developer's shell leaks in. */
const secretEnv = {
  PATH: '/usr/bin:/bin',
  DATABASE_URL: `postgres://app:${SENTINELS.database}@127.0.0.1:5432/backbone`,
  BACKBONE_KAFKA__SASL__MECHANISM: 'scram-sha-512',
  BACKBONE_KAFKA__SASL__USERNAME: 'bridge',
  BACKBONE_KAFKA__SASL__PASSWORD: SENTINELS.sasl,
  BACKBONE_INGEST__PROVIDERS__FRED__API_KEY: SENTINELS.fred,
};

function expectNoSentinel(outcome: CommandOutcome): void {
  for (const sentinel of Object.values(SENTINELS)) {
    expect(outcome.stdout).not.toContain(sentinel);
    expect(outcome.stderr).not.toContain(sentinel);
  }
}

// Each case starts the real CLI on Node 24 (a few seconds of start-up on a busy machine).
describe('./backbone config print', { timeout: 60_000 }, () => {
  it('prints YAML + env + --set combined, with every secret redacted', async () => {
    const outcome = await backbone(
      [
        'config',
        'print',
        '--config',
        'config/backbone.example.yaml',
        '--set',
        'redis.keyNamespace=int-test:',
      ],
      secretEnv,
    );
    expect(outcome.code).toBe(0);
    expectNoSentinel(outcome);
    expect(outcome.stdout).toContain('url: postgres://app:***@127.0.0.1:5432/backbone');
    expect(outcome.stdout).toContain('password: "***"');
    expect(outcome.stdout).toContain('apiKey: "***"');
    expect(outcome.stdout).toContain('keyNamespace: "int-test:"');
    expect(outcome.stdout).toContain('name: fx-daily');
    expect(outcome.stdout).toContain('--set redis.keyNamespace');
  });

  it('prints JSON with --format json', async () => {
    const outcome = await backbone(['config', 'print', '--format', 'json'], secretEnv);
    expect(outcome.code).toBe(0);
    expectNoSentinel(outcome);
    const printed = JSON.parse(outcome.stdout) as { kafka: { sasl: unknown } };
    expect(printed.kafka.sasl).toEqual({ mechanism: 'scram-sha-512', username: 'bridge', password: '***' });
  });

  it('exits 2 on invalid config, naming every bad path and its source, without secrets', async () => {
    const outcome = await backbone(
      [
        'config',
        'print',
        '--set',
        'redis.keyNamspace=typo:',
        '--set',
        'kafka.ssl.rejectUnauthorized=false',
        '--set',
        'database.statementTimeoutMs=0',
      ],
      {
        ...secretEnv,
        BACKBONE_DATABASE__POOL_SIZE: '0',
        BACKBONE_INGEST__PROVIDERS__FRED__TIMEOUT_MS: 'soon',
      },
    );
    expect(outcome.code).toBe(2);
    expect(outcome.stdout).toBe('');
    expectNoSentinel(outcome);
    for (const [path, source] of [
      ['redis.keyNamspace', '--set redis.keyNamspace'],
      ['kafka.ssl.rejectUnauthorized', '--set kafka.ssl.rejectUnauthorized'],
      ['database.statementTimeoutMs', '--set database.statementTimeoutMs'],
      ['database.poolSize', 'env BACKBONE_DATABASE__POOL_SIZE'],
      ['ingest.providers.fred.timeoutMs', 'env BACKBONE_INGEST__PROVIDERS__FRED__TIMEOUT_MS'],
    ] as const) {
      expect(outcome.stderr).toMatch(new RegExp(`- ${path.replace(/\./g, '\\.')}: .*\\[from ${source}\\]`));
    }
    expect(outcome.stderr).toContain('Invalid configuration (5 problems)');
  });
});
