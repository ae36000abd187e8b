import type { z } from 'zod';
import { parse as parseYaml } from 'yaml';

/**
 * Schema-guided handling of key paths written as text (`--set a.b.c=v`, `BACKBONE_A__B_C`).
 * The schema knows which keys exist, so paths can contain keys with dots in them
 * (`kafka.topics.market.bars.v1.partitions`) and env segments can be matched loosely.
 */

export type ConfigPath = readonly (string | number)[];

type AnySchema = z.core.$ZodType;

/** The schemas a value at this node may be checked against, with wrappers removed. */
function unwrap(schema: AnySchema): AnySchema[] {
  const def = schema._zod.def;
  switch (def.type) {
    case 'optional':
    case 'nullable':
    case 'default':
    case 'prefault':
    case 'readonly':
    case 'nonoptional':
    case 'catch':
      return unwrap((def as z.core.$ZodOptionalDef).innerType);
    case 'pipe':
      return unwrap((def as z.core.$ZodPipeDef).in);
    case 'union':
      return (def as z.core.$ZodUnionDef).options.flatMap((option) => unwrap(option));
    default:
      return [schema];
  }
}

/** Child schemas under `key` of a node (several when the node is a union). */
function childSchemas(nodes: readonly AnySchema[], key: string | number): AnySchema[] {
  const children: AnySchema[] = [];
  for (const node of nodes) {
    const def = node._zod.def;
    if (def.type === 'object' && typeof key === 'string') {
      const child = (def as z.core.$ZodObjectDef).shape[key];
      if (child !== undefined) children.push(...unwrap(child));
    } else if (def.type === 'array' && typeof key === 'number') {
      children.push(...unwrap((def as z.core.$ZodArrayDef).element));
    } else if (def.type === 'record' && typeof key === 'string') {
      children.push(...unwrap((def as z.core.$ZodRecordDef).valueType));
    }
  }
  return children;
}

function objectKeys(nodes: readonly AnySchema[]): string[] {
  return nodes.flatMap((node) =>
    node._zod.def.type === 'object' ? Object.keys((node._zod.def as z.core.$ZodObjectDef).shape) : [],
  );
}

function isArrayNode(nodes: readonly AnySchema[]): boolean {
  return nodes.some((node) => node._zod.def.type === 'array');
}

/**
 * Splits a dotted path, preferring the longest key the schema knows at each level so keys that
 * contain dots stay whole. Numeric segments under arrays become indexes.
 *
 * @example splitDottedPath(schema, 'kafka.topics.market.bars.v1.partitions')
 *   // ['kafka', 'topics', 'market.bars.v1', 'partitions']
 */
export function splitDottedPath(schema: AnySchema, dotted: string): (string | number)[] {
  const path: (string | number)[] = [];
  let nodes = unwrap(schema);
  let rest = dotted;
  while (rest.length > 0) {
    let segment: string | number;
    const known = objectKeys(nodes)
      .filter((key) => rest === key || rest.startsWith(`${key}.`))
      .sort((a, b) => b.length - a.length)[0];
    if (known !== undefined) {
      segment = known;
    } else {
      const dot = rest.indexOf('.');
      const text = dot === -1 ? rest : rest.slice(0, dot);
      segment = isArrayNode(nodes) && /^\d+$/.test(text) ? Number(text) : text;
    }
    path.push(segment);
    rest = rest.slice(String(segment).length + 1);
    nodes = childSchemas(nodes, segment);
  }
  return path;
}

const normalise = (key: string): string => key.toLowerCase().replace(/[^a-z0-9]/g, '');

function camelCase(segment: string): string {
  return segment.toLowerCase().replace(/_([a-z0-9])/g, (_, letter: string) => letter.toUpperCase());
}

/**
 * Maps the part of an environment variable name after `BACKBONE_` to a config path: `__`
 * separates levels, each level matches the schema key that is equal ignoring case and
 * punctuation (`KEY_NAMESPACE` → `keyNamespace`, `MARKET_BARS_V1` → `market.bars.v1`).
 * Unknown segments become camelCase so the error names the key the user meant to set.
 *
 * @example envNameToPath(schema, 'REDIS__KEY_NAMESPACE') // ['redis', 'keyNamespace']
 */
export function envNameToPath(schema: AnySchema, name: string): (string | number)[] {
  const path: (string | number)[] = [];
  let nodes = unwrap(schema);
  for (const raw of name.split('__')) {
    let segment: string | number;
    const known = objectKeys(nodes).find((key) => normalise(key) === normalise(raw));
    if (known !== undefined) segment = known;
    else if (isArrayNode(nodes) && /^\d+$/.test(raw)) segment = Number(raw);
    else segment = camelCase(raw);
    path.push(segment);
    nodes = childSchemas(nodes, segment);
  }
  return path;
}

function acceptsString(nodes: readonly AnySchema[]): boolean {
  return nodes.some((node) => {
    const def = node._zod.def;
    if (def.type === 'string' || def.type === 'enum') return true;
    if (def.type === 'literal')
      return (def as z.core.$ZodLiteralDef<z.core.util.Literal>).values.some((v) => typeof v === 'string');
    return false;
  });
}

/**
 * Turns a textual value (env var, `--set`) into the value for `path`. Where the schema expects a
 * string the text is kept as it is (a password `0123` must not become the number 123); elsewhere
 * it is parsed as a YAML scalar or flow collection (`true`, `42`, `[a, b]`).
 */
export function parseTextValue(schema: AnySchema, path: ConfigPath, text: string): unknown {
  let nodes = unwrap(schema);
  for (const key of path) nodes = childSchemas(nodes, key);
  if (acceptsString(nodes)) return text;
  try {
    return parseYaml(text) as unknown;
  } catch {
    // Not valid YAML: hand the raw text to the schema, whose message names the expected type.
    return text;
  }
}
