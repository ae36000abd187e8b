import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseDotenv } from 'dotenv';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { ConfigError, type ConfigIssue } from './config-error.ts';
import { loadConfig } from './load-config.ts';
import { systemConfigSchema } from './schema.ts';

const root = join(import.meta.dirname, '../../..');
const examplePath = join(root, 'config/backbone.example.yaml');
const exampleText = readFileSync(examplePath, 'utf8');

interface Leaf {
  readonly path: string;
  /** The last key (keys may contain dots, so it is not recoverable from `path`). */
  readonly key: string;
  readonly optional: boolean;
}

/** Every leaf key path of the schema; array items are written `[]`. */
function schemaLeaves(
  schema: z.core.$ZodType,
  path: string,
  key: string,
  optional: boolean,
  out: Leaf[],
): Leaf[] {
  const def = schema._zod.def;
  switch (def.type) {
    case 'optional':
      return schemaLeaves((def as z.core.$ZodOptionalDef).innerType, path, key, true, out);
    case 'default':
    case 'prefault':
      return schemaLeaves((def as z.core.$ZodDefaultDef).innerType, path, key, optional, out);
    case 'pipe':
      return schemaLeaves((def as z.core.$ZodPipeDef).in, path, key, optional, out);
    case 'union':
      for (const option of (def as z.core.$ZodUnionDef).options)
        schemaLeaves(option, path, key, optional, out);
      return out;
    case 'object':
      for (const [name, child] of Object.entries((def as z.core.$ZodObjectDef).shape)) {
        schemaLeaves(child, path === '' ? name : `${path}.${name}`, name, optional, out);
      }
      return out;
    case 'array': {
      const element = (def as z.core.$ZodArrayDef).element;
      if (element._zod.def.type === 'object') return schemaLeaves(element, `${path}.[]`, key, optional, out);
      out.push({ path, key, optional });
      return out;
    }
    default:
      if (!out.some((leaf) => leaf.path === path)) out.push({ path, key, optional });
      return out;
  }
}

/** Every key path present in a parsed document, with the same `[]` convention. */
function documentPaths(value: unknown, path: string, out: Set<string>): Set<string> {
  if (path !== '') out.add(path);
  if (Array.isArray(value)) {
    for (const item of value)
      if (item !== null && typeof item === 'object') documentPaths(item, `${path}.[]`, out);
  } else if (value !== null && typeof value === 'object') {
    for (const [key, item] of Object.entries(value))
      documentPaths(item, path === '' ? key : `${path}.${key}`, out);
  }
  return out;
}

describe('config/backbone.example.yaml', () => {
  it('parses and validates, together with .env.example', () => {
    const config = loadConfig({
      cwd: root,
      argv: ['--config', examplePath, '--env-file', '.env.example'],
      env: {},
    });
    expect(config.ingest.plans.map((plan) => plan.name)).toEqual([
      'fx-daily',
      'fx-daily-merged',
      'macro-calendar',
    ]);
  });

  it('states every default the schema has, so the example documents the real behaviour', () => {
    const fromExample = loadConfig({ argv: ['--config', examplePath], env: {} });
    const defaults = loadConfig({ argv: [], env: {} });
    expect({ ...fromExample, ingest: { ...fromExample.ingest, plans: [] } }).toEqual(defaults);
  });

  it('mentions every key of the schema, optional ones at least as a commented line', () => {
    const present = documentPaths(parseYaml(exampleText), '', new Set());
    const missing = schemaLeaves(systemConfigSchema, '', '', false, [])
      .filter((leaf) => {
        if (present.has(leaf.path)) return false;
        const commented = new RegExp(`^\\s*#\\s*${leaf.key.replace(/[.]/g, '\\.')}:`, 'm');
        return !(leaf.optional && commented.test(exampleText));
      })
      .map((leaf) => leaf.path);
    expect(missing).toEqual([]);
  });

  it('names only real keys in .env.example, including the ones left empty there', () => {
    const names = Object.keys(parseDotenv(readFileSync(join(root, '.env.example'), 'utf8')));
    const conventional = ['DATABASE_URL', 'REDIS_URL', 'KAFKA_BROKERS'];
    expect(names.filter((name) => !name.startsWith('BACKBONE_') && !conventional.includes(name))).toEqual([]);
    // Empty values count as unset, so a misspelt empty name would never be checked: give every
    // name a value and look only for unknown keys (wrong types for a dummy value are expected).
    const env = Object.fromEntries(
      names.filter((name) => name !== 'BACKBONE_CONFIG').map((name) => [name, 'x']),
    );
    let issues: readonly ConfigIssue[] = [];
    try {
      loadConfig({ argv: [], env });
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      issues = error.issues;
    }
    expect(issues.filter((issue) => issue.message.startsWith('unknown key'))).toEqual([]);
    expect(names.length).toBeGreaterThan(5);
  });
});
