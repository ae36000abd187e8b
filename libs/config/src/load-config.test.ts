import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from './config-error.ts';
import { loadConfig, resolveConfig } from './load-config.ts';
import { renderConfig } from './print-config.ts';

const SENTINEL = 'S3NTINEL-cfg-5e1a';

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'backbone-config-'));
}

function write(dir: string, name: string, text: string): string {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

function configError(run: () => unknown): ConfigError {
  try {
    run();
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig sources', () => {
  it('returns the built-in defaults when no source sets anything', () => {
    const resolved = resolveConfig({ argv: [], env: {} });
    expect(resolved.config.database.url).toBe('postgres://postgres@127.0.0.1:5433/backbone');
    expect(resolved.config.redis.keyNamespace).toBe('backbone:');
    expect(resolved.config.kafka.brokers).toEqual(['127.0.0.1:9092']);
    expect(resolved.config.ingest.plans).toEqual([]);
    expect(resolved.config.workers.readinessReporter.port).toBe(8080);
    expect(resolved.sources).toEqual([{ kind: 'defaults', label: 'defaults' }]);
    expect(resolved.sourceOf('redis.keyNamespace')).toBe('defaults');
  });

  it('applies defaults < file < env file < env < --set, and remembers which source set each key', () => {
    const dir = tempDir();
    const yaml = write(
      dir,
      'backbone.yaml',
      [
        'redis: { keyNamespace: "file:" }',
        'database: { poolSize: 20, statementTimeoutMs: 1000 }',
        'kafka: { clientId: from-file }',
        'telemetry: { logLevel: warn }',
      ].join('\n'),
    );
    const envFile = write(
      dir,
      '.env',
      [
        'BACKBONE_REDIS__KEY_NAMESPACE=dotenv:',
        'BACKBONE_DATABASE__POOL_SIZE=30',
        'BACKBONE_KAFKA__CLIENT_ID=from-dotenv',
      ].join('\n'),
    );
    const resolved = resolveConfig({
      cwd: dir,
      argv: [
        'serve',
        'stream-bridge',
        '--config',
        'backbone.yaml',
        `--env-file=${envFile}`,
        '--set',
        'redis.keyNamespace=set:',
      ],
      env: { BACKBONE_REDIS__KEY_NAMESPACE: 'env:', BACKBONE_KAFKA__CLIENT_ID: 'from-env' },
    });
    const { config, sourceOf } = resolved;
    expect(config.redis.keyNamespace).toBe('set:');
    expect(sourceOf('redis.keyNamespace')).toBe('--set redis.keyNamespace');
    expect(config.kafka.clientId).toBe('from-env');
    expect(sourceOf('kafka.clientId')).toBe('env BACKBONE_KAFKA__CLIENT_ID');
    expect(config.database.poolSize).toBe(30);
    expect(sourceOf('database.poolSize')).toBe(`env-file ${envFile} (BACKBONE_DATABASE__POOL_SIZE)`);
    expect(config.database.statementTimeoutMs).toBe(1000);
    expect(sourceOf('database.statementTimeoutMs')).toBe(`file ${yaml}`);
    expect(config.telemetry.logLevel).toBe('warn');
    expect(config.redis.cache.ttlSeconds).toBe(900);
    expect(sourceOf('redis.cache.ttlSeconds')).toBe('defaults');
    expect(resolved.sources.map((source) => source.kind)).toEqual([
      'defaults',
      'file',
      'env-file',
      'env',
      'set',
    ]);
  });

  it('finds the file through BACKBONE_CONFIG, and --config wins over it', () => {
    const dir = tempDir();
    write(dir, 'a.yaml', 'kafka: { clientId: a }');
    write(dir, 'b.yaml', 'kafka: { clientId: b }');
    expect(loadConfig({ cwd: dir, argv: [], env: { BACKBONE_CONFIG: 'a.yaml' } }).kafka.clientId).toBe('a');
    expect(
      loadConfig({ cwd: dir, argv: ['--config', 'b.yaml'], env: { BACKBONE_CONFIG: 'a.yaml' } }).kafka
        .clientId,
    ).toBe('b');
  });

  it('maps the conventional variables, and the BACKBONE_ name wins over the conventional one', () => {
    const config = loadConfig({
      argv: [],
      env: {
        DATABASE_URL: 'postgres://app@db:5432/backbone',
        REDIS_URL: 'redis://cache:6379',
        BACKBONE_REDIS__URL: 'redis://specific:6379',
        KAFKA_BROKERS: ' k1:9092, k2:9092 ,',
      },
    });
    expect(config.database.url).toBe('postgres://app@db:5432/backbone');
    expect(config.redis.url).toBe('redis://specific:6379');
    expect(config.kafka.brokers).toEqual(['k1:9092', 'k2:9092']);
  });

  it('maps env names to nested, dotted and array keys, and treats empty values as unset', () => {
    const config = loadConfig({
      argv: ['--set', 'ingest.plans=[{name: fx, provider: csv, symbols: [eurusd]}]'],
      env: {
        BACKBONE_KAFKA__TOPICS__MARKET_BARS_V1__CONFIGS__RETENTION_MS: '3600000',
        BACKBONE_INGEST__PROVIDERS__FRED__API_KEY: '0123',
        BACKBONE_REDIS__CACHE__DATASETS__RECENT_BARS__COUNT: '42',
        BACKBONE_DEVELOPMENT__ALLOW_INSECURE_TLS: 'true',
        BACKBONE_TELEMETRY__LOG_LEVEL: '',
      },
    });
    expect(config.kafka.topics['market.bars.v1'].configs['retention.ms']).toBe('3600000');
    // A string leaf keeps its text: a numeric-looking key must not become a number.
    expect(config.ingest.providers.fred.apiKey).toBe('0123');
    expect(config.redis.cache.datasets.recentBars.count).toBe(42);
    expect(config.development.allowInsecureTls).toBe(true);
    expect(config.telemetry.logLevel).toBe('info');
    expect(config.ingest.plans[0]?.symbols).toEqual(['EURUSD']);
  });

  it('parses --set values as YAML where the schema wants non-strings, and addresses dotted keys and array items', () => {
    const config = loadConfig({
      argv: [
        '--set',
        'kafka.brokers=[a:9092, b:9093]',
        '--set=kafka.topics.market.bars.v1.dlq.partitions=4',
        '--set',
        'kafka.topics.market.bars.v1.partitions=12',
        '--set',
        'redis.tls.enabled=true',
        '--set',
        'redis.keyNamespace=123',
        '--set',
        'kafka.sasl={mechanism: scram-sha-512, username: u, password: p}',
        '--set',
        'kafka.sasl.password=0042',
        '--set',
        'ingest.plans=[{name: fx, provider: yahoo, symbols: [eurusd=x]}]',
        '--set',
        'ingest.plans.0.timeframes=[1h, 1d]',
        '--set',
        'storage.retentionDays.bars.1m=3',
      ],
      env: {},
    });
    expect(config.kafka.brokers).toEqual(['a:9092', 'b:9093']);
    expect(config.kafka.topics['market.bars.v1.dlq'].partitions).toBe(4);
    expect(config.kafka.topics['market.bars.v1'].partitions).toBe(12);
    expect(config.redis.tls.enabled).toBe(true);
    expect(config.redis.keyNamespace).toBe('123');
    expect(config.kafka.sasl).toEqual({ mechanism: 'scram-sha-512', username: 'u', password: '0042' });
    expect(config.ingest.plans[0]).toMatchObject({
      name: 'fx',
      symbols: ['EURUSD=X'],
      timeframes: ['1h', '1d'],
    });
    expect(config.storage.retentionDays.bars).toEqual({
      '1m': 3,
      '5m': 90,
      '15m': 180,
      '1h': 730,
      '1d': 36_500,
    });
  });

  it('refuses a malformed --set with the expression named', () => {
    const error = configError(() => loadConfig({ argv: ['--set', 'redis.keyNamespace'], env: {} }));
    expect(error.issues).toEqual([
      {
        path: 'redis.keyNamespace',
        message: 'expected --set path.to.key=value',
        source: '--set redis.keyNamespace',
      },
    ]);
  });

  it('reads the dotenv file without loading it into process.env', () => {
    const dir = tempDir();
    const name = `BACKBONE_REDIS__KEY_NAMESPACE`;
    const file = write(
      dir,
      '.env',
      `${name}=leak-check-${SENTINEL}:\nDATABASE_URL=postgres://x@dotenv-host/backbone\n`,
    );
    const before = { ...process.env };
    const config = loadConfig({ argv: ['--env-file', file] });
    expect(config.database.url).toBe(process.env['DATABASE_URL'] ?? 'postgres://x@dotenv-host/backbone');
    expect(process.env).toEqual(before);
    expect(Object.values(process.env).join('\n')).not.toContain(SENTINEL);
  });

  it('reports a missing or malformed file as a ConfigError naming the file', () => {
    const dir = tempDir();
    expect(
      configError(() => loadConfig({ cwd: dir, argv: ['--config', 'missing.yaml'], env: {} })).issues[0],
    ).toMatchObject({
      path: '(file)',
      source: join(dir, 'missing.yaml'),
    });
    write(dir, 'bad.yaml', 'redis: [unclosed');
    expect(
      configError(() => loadConfig({ cwd: dir, argv: ['--config', 'bad.yaml'], env: {} })).issues[0],
    ).toMatchObject({
      path: '(file)',
      source: `file ${join(dir, 'bad.yaml')}`,
    });
    write(dir, 'list.yaml', '- a\n- b\n');
    expect(
      configError(() => loadConfig({ cwd: dir, argv: ['--config', 'list.yaml'], env: {} })).message,
    ).toContain('must be a YAML mapping');
  });
});

describe('loadConfig validation', () => {
  it('lists every bad key path with its reason and source in one error', () => {
    const dir = tempDir();
    const yaml = write(
      dir,
      'bad.yaml',
      [
        'redis:',
        '  keyNamspace: "typo:"',
        'database:',
        '  ssl: { rejectUnauthorized: false }',
        'ingest:',
        '  plans:',
        '    - { name: fx, provider: csv, symbols: [EUR USD] }',
      ].join('\n'),
    );
    const error = configError(() =>
      loadConfig({
        cwd: dir,
        argv: [
          '--config',
          yaml,
          '--set',
          'workers.readinessReporter.port=70000',
          '--set',
          'database.statementTimeoutMs=0',
        ],
        env: { BACKBONE_DATABASE__POOL_SIZE: 'ten', DATABASE_URL: `postgres://app:${SENTINEL}@db/backbone` },
      }),
    );
    const byPath = Object.fromEntries(error.issues.map((issue) => [issue.path, issue]));
    expect(Object.keys(byPath).sort()).toEqual([
      'database.poolSize',
      'database.ssl.rejectUnauthorized',
      'database.statementTimeoutMs',
      'ingest.plans.0.symbols.0',
      'redis.keyNamspace',
      'workers.readinessReporter.port',
    ]);
    const expectIssue = (path: string, reason: string, source: string): void => {
      expect(byPath[path]?.message).toContain(reason);
      expect(byPath[path]?.source).toBe(source);
    };
    expectIssue('redis.keyNamspace', 'unknown key', `file ${yaml}`);
    expectIssue('database.poolSize', 'expected number', 'env BACKBONE_DATABASE__POOL_SIZE');
    expectIssue('workers.readinessReporter.port', '65535', '--set workers.readinessReporter.port');
    expectIssue('database.ssl.rejectUnauthorized', 'development.allowInsecureTls', `file ${yaml}`);
    expectIssue('database.statementTimeoutMs', '>0', '--set database.statementTimeoutMs');
    expect(byPath['ingest.plans.0.symbols.0']?.message).toContain('^[A-Z0-9_.=\\-]{1,32}$');
    expect(error.exitCode).toBe(2);
    for (const issue of error.issues) {
      expect(error.message).toContain(`${issue.path}: ${issue.message} [from ${issue.source}]`);
    }
    expect(error.message).not.toContain(SENTINEL);
  });

  it('finding 4.7: refuses the removed database.schemas from a file, the environment or --set, naming the key and why', () => {
    const dir = tempDir();
    const yaml = write(
      dir,
      'old.yaml',
      'database:\n  schemas: { marketData: market_data, system: backbone }\n',
    );
    const attempts = [
      { options: { cwd: dir, argv: ['--config', yaml], env: {} }, source: `file ${yaml}` },
      {
        options: { argv: [], env: { BACKBONE_DATABASE__SCHEMAS__SYSTEM: 'backbone' } },
        source: 'env BACKBONE_DATABASE__SCHEMAS__SYSTEM',
      },
      {
        options: { argv: ['--set', 'database.schemas.marketData=market_data'], env: {} },
        source: '--set database.schemas.marketData',
      },
    ];
    for (const { options, source } of attempts) {
      const error = configError(() => loadConfig(options));
      expect(error.issues).toEqual([
        { path: 'database.schemas', message: expect.stringContaining('removed') as string, source },
      ]);
      expect(error.message).toContain('market_data');
      expect(error.exitCode).toBe(2);
    }
  });

  it('allows rejectUnauthorized: false only with development.allowInsecureTls', () => {
    const argv = ['--set', 'kafka.ssl={enabled: true, rejectUnauthorized: false}'];
    expect(configError(() => loadConfig({ argv, env: {} })).issues.map((issue) => issue.path)).toEqual([
      'kafka.ssl.rejectUnauthorized',
    ]);
    const config = loadConfig({ argv: [...argv, '--set', 'development.allowInsecureTls=true'], env: {} });
    expect(config.kafka.ssl.rejectUnauthorized).toBe(false);
  });

  it('spells timeframes as the bar contract does (1wk, 1mo), in plans and in retention keys', () => {
    const plan = (timeframes: string): string =>
      `ingest.plans=[{name: p, provider: csv, symbols: [X], timeframes: [${timeframes}]}]`;
    const config = loadConfig({
      argv: ['--set', plan('1m, 4h, 1d, 1wk, 1mo'), '--set', 'storage.retentionDays.bars.1wk=3650'],
      env: {},
    });
    expect(config.ingest.plans[0]?.timeframes).toEqual(['1m', '4h', '1d', '1wk', '1mo']);
    expect(config.storage.retentionDays.bars['1wk']).toBe(3650);

    // 1w is not the contract's spelling; 2h is spelt right but no bar carries it.
    const error = configError(() =>
      loadConfig({
        argv: ['--set', plan('1w, 2h'), '--set', 'storage.retentionDays.bars.1w=10'],
        env: {},
      }),
    );
    expect(error.issues.map((issue) => issue.path).sort()).toEqual([
      'ingest.plans.0.timeframes.0',
      'ingest.plans.0.timeframes.1',
      'storage.retentionDays.bars.1w',
    ]);
    expect(error.issues[0]?.message).toBe(
      "must be one of 1m, 5m, 15m, 30m, 1h, 4h, 1d, 1wk, 1mo (the bar contract's timeframes)",
    );
  });

  it('checks fields against each other', () => {
    const error = configError(() =>
      loadConfig({
        argv: [
          '--set',
          'readiness.lag={warn: 10, fail: 5}',
          '--set',
          'readiness.hitRatio={warn: 0.2, fail: 0.5}',
          '--set',
          'workers.cacheWarmer.port=8080',
          '--set',
          'ingest.plans=[{name: a, provider: csv, fallbackProvider: csv, symbols: [X]}, {name: a, provider: yahoo, symbols: [Y]}]',
        ],
        env: {},
      }),
    );
    expect(error.issues.map((issue) => issue.path).sort()).toEqual([
      'ingest.plans.0.fallbackProvider',
      'ingest.plans.1.name',
      'readiness.hitRatio.warn',
      'readiness.lag.warn',
      'workers.readinessReporter.port',
    ]);
  });

  it('refuses a fallback to fred, or on a plan that is not a yahoo plan', () => {
    const plans = [
      '{name: macro, provider: yahoo, fallbackProvider: fred, symbols: [X]}',
      '{name: files, provider: csv, fallbackProvider: yahoo, symbols: [X]}',
      '{name: series, provider: fred, fallbackProvider: csv, symbols: [X]}',
    ];
    const error = configError(() =>
      loadConfig({ argv: ['--set', `ingest.plans=[${plans.join(', ')}]`], env: {} }),
    );
    expect(error.issues.map((issue) => `${issue.path}: ${issue.message}`).sort()).toEqual([
      'ingest.plans.0.fallbackProvider: fred serves macro events, not bars: it cannot stand in for a bar provider',
      'ingest.plans.1.fallbackProvider: a csv plan reads its own files; a fallback is for yahoo plans (fallbackProvider: csv)',
      'ingest.plans.2.fallbackProvider: no other provider serves macro events: a fred plan has no fallback',
    ]);
  });

  it('refuses a merge with the plan itself, with fred, on a csv plan, twice, or together with a fallback', () => {
    const plans = [
      '{name: self, provider: yahoo, mergeWith: [yahoo], symbols: [X]}',
      '{name: macro, provider: yahoo, mergeWith: [csv, fred], symbols: [X]}',
      '{name: files, provider: csv, mergeWith: [yahoo], symbols: [X]}',
      '{name: twice, provider: yahoo, mergeWith: [csv, csv], symbols: [X]}',
      '{name: both, provider: yahoo, mergeWith: [csv], fallbackProvider: csv, symbols: [X]}',
      '{name: drift, provider: yahoo, mergeWith: [csv], driftThresholdPct: 0, symbols: [X]}',
      '{name: alone, provider: yahoo, driftThresholdPct: 1, symbols: [X]}',
    ];
    const error = configError(() =>
      loadConfig({ argv: ['--set', `ingest.plans=[${plans.join(', ')}]`], env: {} }),
    );
    expect(error.issues.map((issue) => `${issue.path}: ${issue.message}`).sort()).toEqual([
      "ingest.plans.0.mergeWith.0: must not list the plan's own provider (yahoo)",
      'ingest.plans.1.mergeWith.1: fred serves macro events, not bars: it cannot be merged',
      'ingest.plans.2.mergeWith: a csv plan ingests its files whole; merge on a yahoo plan (mergeWith: [csv])',
      'ingest.plans.3.mergeWith.1: "csv" is listed twice',
      'ingest.plans.4.fallbackProvider: not with mergeWith: a merge goes on with the sources that answer, so list the fallback in mergeWith instead',
      expect.stringMatching(/^ingest\.plans\.5\.driftThresholdPct: /),
      'ingest.plans.6.driftThresholdPct: is only used with mergeWith',
    ]);
    const config = loadConfig({
      argv: ['--set', 'ingest.plans=[{name: fx, provider: yahoo, mergeWith: [csv], symbols: [EURUSD]}]'],
      env: {},
    });
    expect(config.ingest.plans[0]).toMatchObject({ mergeWith: ['csv'] });
    expect(config.ingest.plans[0]?.driftThresholdPct).toBeUndefined(); // 0.5 when the run builds the merge
  });

  it('never shows a secret in an error, even when the secret-bearing value itself is invalid', () => {
    const error = configError(() =>
      loadConfig({
        argv: ['--set', `kafka.sasl={mechanism: md5, username: u, password: ${SENTINEL}}`],
        env: {
          DATABASE_URL: `mysql://app:${SENTINEL}@db/backbone`,
          BACKBONE_INGEST__PROVIDERS__FRED__API_KEY: SENTINEL,
        },
      }),
    );
    expect(error.issues.map((issue) => issue.path).sort()).toEqual(['database.url', 'kafka.sasl.mechanism']);
    expect(error.message).not.toContain(SENTINEL);
    expect(JSON.stringify(error.issues)).not.toContain(SENTINEL);
  });
});

describe('renderConfig', () => {
  it('prints the effective config with every secret redacted, in YAML and JSON', () => {
    const resolved = resolveConfig({
      argv: ['--set', 'redis.keyNamespace=render:'],
      env: {
        DATABASE_URL: `postgres://app:${SENTINEL}@db:5432/backbone`,
        REDIS_URL: `rediss://:${SENTINEL}@cache:6380`,
        BACKBONE_KAFKA__SASL__MECHANISM: 'plain',
        BACKBONE_KAFKA__SASL__USERNAME: 'bridge',
        BACKBONE_KAFKA__SASL__PASSWORD: SENTINEL,
        BACKBONE_INGEST__PROVIDERS__FRED__API_KEY: SENTINEL,
      },
    });
    const yaml = renderConfig(resolved, 'yaml');
    const json = renderConfig(resolved, 'json');
    for (const text of [yaml, json]) expect(text).not.toContain(SENTINEL);
    expect(yaml).toContain('#   3. --set redis.keyNamespace');
    expect(yaml).toContain('url: postgres://app:***@db:5432/backbone');
    const parsed = JSON.parse(json) as {
      kafka: { sasl: unknown };
      ingest: { providers: { fred: { apiKey: string } } };
    };
    expect(parsed.kafka.sasl).toEqual({ mechanism: 'plain', username: 'bridge', password: '***' });
    expect(parsed.ingest.providers.fred.apiKey).toBe('***');
  });
});
