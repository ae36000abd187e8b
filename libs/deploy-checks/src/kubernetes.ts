import { readFile } from 'node:fs/promises';
import { ScaledObject } from '@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import { Job } from 'kubernetes-models/batch/v1/Job';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Service } from 'kubernetes-models/v1/Service';
import { parseAllDocuments } from 'yaml';
import type { SchemaProblem } from './compose.ts';

/** A Kubernetes object as read from a manifest file. */
export interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  spec?: Record<string, unknown>;
  data?: Record<string, string>;
  stringData?: Record<string, string>;
}

interface Validatable {
  validate(): void;
}

// The kinds deploy/k8s uses, each with the validator kubernetes-models generated (Ajv) from the
// Kubernetes OpenAPI document; KEDA's from its published CRD. A kind missing here is an error,
// so a new kind cannot slip through unvalidated.
const MODELS: Record<string, new (data: never) => Validatable> = {
  'v1/Namespace': Namespace,
  'v1/ConfigMap': ConfigMap,
  'v1/Secret': Secret,
  'v1/Service': Service,
  'apps/v1/Deployment': Deployment,
  'batch/v1/Job': Job,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  'keda.sh/v1alpha1/ScaledObject': ScaledObject,
};

/** The kinds {@link validateManifest} knows, as `apiVersion/kind`. */
export const KNOWN_KINDS: readonly string[] = Object.keys(MODELS);

/**
 * Validates one Kubernetes object against the schema of its apiVersion and kind.
 *
 * @example validateManifest({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x' } }); // []
 */
export function validateManifest(manifest: unknown): SchemaProblem[] {
  if (typeof manifest !== 'object' || manifest === null || Array.isArray(manifest))
    return [{ path: '/', message: 'a manifest must be a YAML mapping' }];
  const object = manifest as Record<string, unknown>;
  const key = `${String(object['apiVersion'])}/${String(object['kind'])}`;
  const Model = MODELS[key];
  if (Model === undefined)
    return [{ path: '/', message: `no schema for ${key} (known: ${KNOWN_KINDS.join(', ')})` }];
  try {
    // The model's constructor copies the fields; its validate() runs the schema over them.
    new Model(object as never).validate();
    return [];
  } catch (error) {
    // kubernetes-models throws one ValidationError whose message lists `data/<path> <problem>`.
    const message = error instanceof Error ? error.message : String(error);
    return message.split(', ').map((line) => {
      const match = /^data(\S*) (.*)$/.exec(line);
      return match === null
        ? { path: '/', message: line }
        : { path: match[1] || '/', message: match[2] ?? line };
    });
  }
}

/**
 * Reads every YAML document of a manifest file (documents separated by `---`).
 *
 * @example const manifests = await loadManifests('deploy/k8s/stream-bridge.yaml');
 */
export async function loadManifests(path: string): Promise<Manifest[]> {
  const documents = parseAllDocuments(await readFile(path, 'utf8'));
  return documents.map((document, index) => {
    if (document.errors.length > 0)
      throw new Error(`${path} document ${index + 1}: ${document.errors.map((e) => e.message).join('; ')}`);
    return document.toJS() as Manifest;
  });
}
