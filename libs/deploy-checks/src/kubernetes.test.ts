import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { loadConfig } from '@backbone/config';
import { describe, expect, it } from 'vitest';
import { loadManifests, validateManifest, type Manifest } from './kubernetes.ts';
import { WORKERS } from './metric-catalog.ts';
import { REPO_ROOT } from './paths.ts';

const dir = join(REPO_ROOT, 'deploy/k8s');
const files = (await readdir(dir)).filter((file) => file.endsWith('.yaml')).sort();
const manifests: (Manifest & { file: string })[] = [];
for (const file of files)
  for (const manifest of await loadManifests(join(dir, file))) manifests.push({ ...manifest, file });

function find(kind: string, name: string): Manifest {
  const found = manifests.find((manifest) => manifest.kind === kind && manifest.metadata.name === name);
  if (found === undefined) throw new Error(`deploy/k8s has no ${kind} ${name}`);
  return found;
}

interface Probe {
  httpGet: { path: string; port: string };
}
interface Container {
  image: string;
  ports: { name: string; containerPort: number }[];
  env?: { name: string; value: string }[];
  livenessProbe: Probe;
  readinessProbe: Probe;
  startupProbe: Probe;
  resources: { requests: Record<string, string>; limits: Record<string, string> };
  securityContext: { readOnlyRootFilesystem: boolean; allowPrivilegeEscalation: boolean };
}
interface DeploymentSpec {
  selector: { matchLabels: Record<string, string> };
  template: {
    metadata: { labels: Record<string, string> };
    spec: { securityContext: { runAsNonRoot: boolean }; containers: Container[] };
  };
}

describe('deploy/k8s', () => {
  it.each(
    manifests.map((manifest) => [`${manifest.file}: ${manifest.kind} ${manifest.metadata.name}`, manifest]),
  )('%s is valid against its published schema', (_label, manifest) => {
    expect(validateManifest(manifest)).toEqual([]);
  });

  it('rejects wrong types and unknown kinds', () => {
    const broken = structuredClone(find('Deployment', 'stream-bridge')) as Manifest & {
      spec: DeploymentSpec;
    };
    const container = broken.spec.template.spec.containers[0] as unknown as Record<
      string,
      Record<string, unknown>
    >;
    if (container['livenessProbe'] !== undefined) container['livenessProbe']['periodSeconds'] = 'ten';
    expect(validateManifest(broken)).toEqual([
      { path: '/spec/template/spec/containers/0/livenessProbe/periodSeconds', message: 'must be integer' },
    ]);
    expect(validateManifest({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'x' } })[0]?.message).toMatch(
      /^no schema for v1\/Pod/,
    );
  });

  it.each(WORKERS)('runs $app with probes on /livez and /readyz, resources, non-root', (worker) => {
    const spec = find('Deployment', worker.app).spec as unknown as DeploymentSpec;
    const [container] = spec.template.spec.containers;
    if (container === undefined) throw new Error('no container');
    expect(container.image).toMatch(new RegExp(`^backbone/${worker.app}:`));
    expect(container.ports).toEqual([{ name: 'http', containerPort: worker.port, protocol: 'TCP' }]);
    expect(container.livenessProbe.httpGet).toEqual({ path: '/livez', port: 'http' });
    expect(container.startupProbe.httpGet).toEqual({ path: '/livez', port: 'http' });
    expect(container.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'http' });
    expect(Object.keys(container.resources.requests).sort()).toEqual(['cpu', 'memory']);
    expect(Object.keys(container.resources.limits).sort()).toEqual(['cpu', 'memory']);
    expect(spec.template.spec.securityContext.runAsNonRoot).toBe(true);
    expect(container.securityContext).toMatchObject({
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
    });
    expect(spec.template.metadata.labels).toMatchObject(spec.selector.matchLabels);
  });

  it.each(WORKERS)('spreads the $app instances over nodes and zones without requiring it', (worker) => {
    const spec = find('Deployment', worker.app).spec as unknown as DeploymentSpec & {
      template: {
        spec: {
          topologySpreadConstraints: {
            topologyKey: string;
            whenUnsatisfiable: string;
            labelSelector: { matchLabels: Record<string, string> };
          }[];
        };
      };
    };
    const constraints = spec.template.spec.topologySpreadConstraints;
    expect(constraints.map((constraint) => constraint.topologyKey)).toEqual([
      'kubernetes.io/hostname',
      'topology.kubernetes.io/zone',
    ]);
    for (const constraint of constraints) {
      // ScheduleAnyway: a one-node cluster still runs every instance.
      expect(constraint.whenUnsatisfiable).toBe('ScheduleAnyway');
      expect(spec.template.metadata.labels).toMatchObject(constraint.labelSelector.matchLabels);
    }
  });

  it.each(WORKERS)('puts a Service and a PodDisruptionBudget in front of the $app pods', (worker) => {
    const podLabels = (find('Deployment', worker.app).spec as unknown as DeploymentSpec).template.metadata
      .labels;
    const service = find('Service', worker.app).spec as {
      selector: Record<string, string>;
      ports: { port: number }[];
    };
    expect(podLabels).toMatchObject(service.selector);
    expect(service.ports.map((port) => port.port)).toEqual([worker.port]);
    const pdb = find('PodDisruptionBudget', worker.app).spec as {
      selector: { matchLabels: Record<string, string> };
    };
    expect(podLabels).toMatchObject(pdb.selector.matchLabels);
  });

  it('scales the ingestor on queue depth and the stream-bridge on consumer lag, both on existing Deployments', () => {
    const hpa = find('HorizontalPodAutoscaler', 'timescale-ingestor').spec as {
      scaleTargetRef: { kind: string; name: string };
      metrics: { external: { metric: { name: string } } }[];
    };
    expect(hpa.scaleTargetRef).toMatchObject({ kind: 'Deployment', name: 'timescale-ingestor' });
    expect(hpa.metrics[0]?.external.metric.name).toBe('backbone_queue_jobs');
    const scaled = find('ScaledObject', 'stream-bridge').spec as {
      scaleTargetRef: { name: string };
      minReplicaCount: number;
      maxReplicaCount: number;
      fallback: { replicas: number };
      triggers: { type: string; metadata: { query: string } }[];
    };
    expect(scaled.scaleTargetRef.name).toBe('stream-bridge');
    expect(scaled.triggers[0]?.metadata.query).toContain('backbone_stream_consumer_lag');
    // Busy before lag builds: CPU scales too, and a failing lag query holds a safe count.
    expect(scaled.triggers.map((trigger) => trigger.type)).toEqual(['prometheus', 'cpu']);
    expect(scaled.fallback.replicas).toBeGreaterThan(scaled.minReplicaCount);
    expect(scaled.fallback.replicas).toBeLessThanOrEqual(scaled.maxReplicaCount);
    // More consumers than partitions would sit idle.
    const config = loadConfig({ env: {}, argv: [], cwd: REPO_ROOT });
    expect(scaled.maxReplicaCount).toBeLessThanOrEqual(config.kafka.topics['market.bars.v1'].partitions);
  });

  it.each(WORKERS)(
    'configures $app through a ConfigMap and Secret that the real loadConfig accepts',
    (worker) => {
      const container = (find('Deployment', worker.app).spec as unknown as DeploymentSpec).template.spec
        .containers[0];
      const env: Record<string, string> = {
        ...find('ConfigMap', 'backbone-config').data,
        ...find('Secret', 'backbone-secrets').stringData,
        ...Object.fromEntries((container?.env ?? []).map((variable) => [variable.name, variable.value])),
      };
      const config = loadConfig({ env, argv: [], cwd: REPO_ROOT });
      expect(config.workers[worker.configKey]).toMatchObject({ host: '0.0.0.0', port: worker.port });
      expect(config.database.url).toMatch(/^postgres:\/\/backbone:REPLACE_ME@/);
    },
  );
});
