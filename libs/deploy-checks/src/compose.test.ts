import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadConfig } from '@backbone/config';
import { describe, expect, it } from 'vitest';
import { loadYamlFile, validateCompose } from './compose.ts';
import { WORKERS } from './metric-catalog.ts';
import { REPO_ROOT } from './paths.ts';

interface ComposeService {
  profiles?: string[];
  environment?: Record<string, string | number | boolean>;
  depends_on?: Record<string, { condition: string }>;
  deploy?: { replicas?: number };
  healthcheck?: { test: string[] };
  build?: { dockerfile: string; args?: Record<string, string> };
}
interface ComposeFile {
  services: Record<string, ComposeService>;
}

const composePath = join(REPO_ROOT, 'docker/compose.yaml');
const compose = (await loadYamlFile(composePath)) as ComposeFile;

function service(name: string): ComposeService {
  const found = compose.services[name];
  if (found === undefined) throw new Error(`docker/compose.yaml has no service ${name}`);
  return found;
}

describe('docker/compose.yaml', () => {
  it('is valid against the Compose Specification schema', () => {
    expect(validateCompose(compose)).toEqual([]);
  });

  it('is rejected by the same schema when a service carries an unknown key or a bad condition', () => {
    const broken = structuredClone(compose);
    (broken.services['redis'] as Record<string, unknown>)['helthcheck'] = { test: ['CMD', 'true'] };
    const bridge = broken.services['stream-bridge'];
    if (bridge?.depends_on?.['migrate'] !== undefined)
      bridge.depends_on['migrate'].condition = 'service_done';
    const problems = validateCompose(broken);
    expect(problems).toContainEqual({
      path: '/services/redis',
      message: 'must NOT have additional properties (helthcheck)',
    });
    expect(problems.some((problem) => problem.path === '/services/stream-bridge/depends_on')).toBe(true);
  });

  it('keeps the plain `up` to the stack the tests use, and puts the rest behind the app profile', () => {
    const plain = Object.entries(compose.services)
      .filter(([, definition]) => definition.profiles === undefined)
      .map(([name]) => name);
    expect(plain.sort()).toEqual(['kafka', 'postgres', 'redis', 'timescaledb']);
    for (const name of ['migrate', 'otel-collector', 'prometheus', ...WORKERS.map((worker) => worker.app)])
      expect(service(name).profiles).toEqual(['app']);
  });

  it.each(WORKERS)(
    'runs $app from the worker image built for it, with replicas, a /livez healthcheck and ordered start',
    (worker) => {
      const definition = service(worker.app);
      expect(definition.build?.dockerfile).toBe('docker/worker.Dockerfile');
      expect(definition.build?.args).toEqual({ APP: worker.app, PORT: String(worker.port) });
      expect(definition.deploy?.replicas).toBeGreaterThanOrEqual(1);
      expect(definition.healthcheck?.test.join(' ')).toContain(`http://127.0.0.1:${worker.port}/livez`);
      expect(definition.depends_on).toEqual({
        timescaledb: { condition: 'service_healthy' },
        redis: { condition: 'service_healthy' },
        kafka: { condition: 'service_healthy' },
        migrate: { condition: 'service_completed_successfully' },
        'otel-collector': { condition: 'service_started' },
      });
    },
  );

  it.each(WORKERS)(
    'gives $app an environment that the real loadConfig accepts, listening on all interfaces',
    (worker) => {
      const environment = Object.fromEntries(
        Object.entries(service(worker.app).environment ?? {}).map(([key, value]) => [key, String(value)]),
      );
      const config = loadConfig({ env: environment, argv: [], cwd: REPO_ROOT });
      expect(config.workers[worker.configKey]).toMatchObject({ host: '0.0.0.0', port: worker.port });
      expect(config.kafka.brokers).toEqual(['kafka:29092']);
      expect(config.database.url).toBe('postgres://postgres@timescaledb:5432/backbone');
      expect(config.redis.url).toBe('redis://redis:6379');
      expect(config.telemetry.otlpEndpoint).toBe('http://otel-collector:4318');
    },
  );

  it('scrapes every worker on its port from docker/prometheus.yml', async () => {
    const prometheus = await readFile(join(REPO_ROOT, 'docker/prometheus.yml'), 'utf8');
    for (const worker of WORKERS) {
      expect(prometheus).toContain(`job_name: ${worker.app}`);
      expect(prometheus).toMatch(
        new RegExp(`${worker.app}(:${worker.port}|'\\]\\s+type: A\\s+port: ${worker.port})`),
      );
    }
  });
});
