import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse as parseDotenv } from 'dotenv';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import type { z } from 'zod';
import { parseConfigArgs } from './config-args.ts';
import { ConfigError, type ConfigIssue } from './config-error.ts';
import { REMOVED_KEYS, systemConfigSchema, type SystemConfig } from './schema.ts';
import { type ConfigPath, envNameToPath, parseTextValue, splitDottedPath } from './schema-paths.ts';

/** Where `loadConfig` looks for its inputs; every field defaults to the real process. */
export interface LoadConfigOptions {
  /** Command-line tokens after the script name (default `process.argv.slice(2)`). */
  readonly argv?: readonly string[];
  /** Environment (default `process.env`); dotenv files are merged into a copy, never into it. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Base of relative file paths (default `process.cwd()`). */
  readonly cwd?: string;
}

/** One layer that contributed to the effective configuration, lowest precedence first. */
export interface ConfigSource {
  readonly kind: 'defaults' | 'file' | 'env-file' | 'env' | 'set';
  /** Human-readable description, e.g. `file /etc/backbone.yaml` or `env REDIS_URL, BACKBONE_KAFKA__CLIENT_ID`. */
  readonly label: string;
}

/** The effective configuration together with where each value came from. */
export interface ResolvedConfig {
  readonly config: SystemConfig;
  /** The layers that contributed, lowest precedence first (`defaults` always first). */
  readonly sources: readonly ConfigSource[];
  /** Which source set the value at a dotted path (`defaults` when nobody did). */
  readonly sourceOf: (path: string) => string;
}

const ENV_PREFIX = 'BACKBONE_';
/** Variables with the prefix that select sources instead of setting keys. */
const RESERVED_ENV = new Set(['BACKBONE_CONFIG']);

interface Assignment {
  readonly path: ConfigPath;
  readonly value: unknown;
  readonly source: string;
}

const pathKey = (path: ConfigPath): string => path.join('.');

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** Every leaf of a parsed YAML document; arrays are leaves (a higher layer replaces them whole). */
function leaves(value: unknown, path: (string | number)[], source: string, out: Assignment[]): Assignment[] {
  if (isPlainObject(value) && (path.length === 0 || Object.keys(value).length > 0)) {
    for (const [key, item] of Object.entries(value)) leaves(item, [...path, key], source, out);
  } else {
    out.push({ path, value, source });
  }
  return out;
}

function readText(file: string, what: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(
      [{ path: '(file)', message: `cannot read ${what}: ${String(error)}`, source: file }],
      {
        cause: error,
      },
    );
  }
}

function yamlLayer(file: string): Assignment[] {
  const source = `file ${file}`;
  let document: unknown;
  try {
    document = parseYaml(readText(file, 'config file')) as unknown;
  } catch (error) {
    if (!(error instanceof YAMLParseError)) throw error;
    throw new ConfigError([{ path: '(file)', message: `not valid YAML: ${error.message}`, source }], {
      cause: error,
    });
  }
  if (document === null || document === undefined) return [];
  if (!isPlainObject(document)) {
    throw new ConfigError([{ path: '(file)', message: 'must be a YAML mapping at the top level', source }]);
  }
  return leaves(document, [], source, []);
}

/**
 * Assignments from environment-style variables: the conventional names first, then
 * `BACKBONE_*`, so the specific name wins over the conventional one within one layer.
 * Empty values count as unset (a blank line in a copied .env.example must not override).
 */
function envLayer(
  vars: Readonly<Record<string, string | undefined>>,
  describe: (name: string) => string,
): Assignment[] {
  const schema: z.core.$ZodType = systemConfigSchema;
  const out: Assignment[] = [];
  const text = (name: string): string | undefined => {
    const value = vars[name];
    return value === undefined || value === '' ? undefined : value;
  };
  const databaseUrl = text('DATABASE_URL');
  if (databaseUrl !== undefined)
    out.push({ path: ['database', 'url'], value: databaseUrl, source: describe('DATABASE_URL') });
  const redisUrl = text('REDIS_URL');
  if (redisUrl !== undefined)
    out.push({ path: ['redis', 'url'], value: redisUrl, source: describe('REDIS_URL') });
  const brokers = text('KAFKA_BROKERS');
  if (brokers !== undefined) {
    const list = brokers
      .split(',')
      .map((broker) => broker.trim())
      .filter((broker) => broker !== '');
    out.push({ path: ['kafka', 'brokers'], value: list, source: describe('KAFKA_BROKERS') });
  }
  for (const name of Object.keys(vars).sort()) {
    const value = text(name);
    if (!name.startsWith(ENV_PREFIX) || RESERVED_ENV.has(name) || value === undefined) continue;
    const path = envNameToPath(schema, name.slice(ENV_PREFIX.length));
    out.push({ path, value: parseTextValue(schema, path, value), source: describe(name) });
  }
  return out;
}

function setLayer(sets: readonly string[]): Assignment[] {
  const schema: z.core.$ZodType = systemConfigSchema;
  const issues: ConfigIssue[] = [];
  const out: Assignment[] = [];
  for (const expression of sets) {
    const equals = expression.indexOf('=');
    const dotted = equals === -1 ? expression : expression.slice(0, equals).trim();
    // The label names only the key: the value may be a secret.
    const source = `--set ${dotted}`;
    if (
      equals <= 0 ||
      dotted === '' ||
      dotted.startsWith('.') ||
      dotted.endsWith('.') ||
      dotted.includes('..')
    ) {
      issues.push({ path: dotted || '(empty)', message: 'expected --set path.to.key=value', source });
      continue;
    }
    const path = splitDottedPath(schema, dotted);
    out.push({ path, value: parseTextValue(schema, path, expression.slice(equals + 1)), source });
  }
  if (issues.length > 0) throw new ConfigError(issues);
  return out;
}

/** Merges assignments in order into one raw object, remembering which source set each path. */
class ProvenanceMerge {
  readonly raw: Record<string, unknown> = {};
  readonly #sources = new Map<string, string>();

  apply(assignment: Assignment): void {
    const { path, value, source } = assignment;
    if (path.length === 0) return;
    let node: Record<string | number, unknown> = this.raw;
    for (let depth = 0; depth < path.length - 1; depth++) {
      const key = path[depth] as string | number;
      const nextIsIndex = typeof path[depth + 1] === 'number';
      let child = node[key];
      if (child === null || typeof child !== 'object' || (nextIsIndex && !Array.isArray(child))) {
        // A scalar (or an object where an array is addressed) is replaced: forget who set it.
        this.#forget(path.slice(0, depth + 1));
        child = nextIsIndex ? [] : {};
        node[key] = child;
      }
      node = child as Record<string | number, unknown>;
    }
    const last = path[path.length - 1] as string | number;
    this.#forget(path);
    node[last] = structuredClone(value);
    this.#sources.set(pathKey(path), source);
  }

  /** The source of the value at `path`: its own or its nearest ancestor's, else its descendants'. */
  sourceOf(path: string): string {
    const parts = path.split('.');
    for (let length = parts.length; length > 0; length--) {
      const source = this.#sources.get(parts.slice(0, length).join('.'));
      if (source !== undefined) return source;
    }
    const below = new Set<string>();
    for (const [key, source] of this.#sources) if (key.startsWith(`${path}.`)) below.add(source);
    return below.size > 0 ? [...below].join(', ') : 'defaults';
  }

  #forget(path: ConfigPath): void {
    const key = pathKey(path);
    for (const known of [...this.#sources.keys()]) {
      if (known === key || known.startsWith(`${key}.`)) this.#sources.delete(known);
    }
  }
}

function issuesOf(error: z.core.$ZodError, merge: ProvenanceMerge): ConfigIssue[] {
  return error.issues.flatMap((issue) => {
    const base = issue.path.map(String);
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => {
        const path = pathKey([...base, key]);
        const message = REMOVED_KEYS[path] ?? 'unknown key (check the spelling)';
        return { path, message, source: merge.sourceOf(path) };
      });
    }
    const path = pathKey(base);
    return [{ path, message: issue.message, source: merge.sourceOf(path) }];
  });
}

/**
 * Loads the configuration from every source and returns it with its provenance. Sources, lowest
 * to highest precedence: built-in defaults < YAML file (`--config` or `BACKBONE_CONFIG`) < dotenv
 * file (`--env-file`) < environment (`BACKBONE_*`, `DATABASE_URL`, `REDIS_URL`, `KAFKA_BROKERS`)
 * < `--set path=value`.
 *
 * @throws {ConfigError} listing every invalid key with its source.
 * @example const { config, sourceOf } = resolveConfig({ argv: ['--set', 'redis.keyNamespace=t1:'] })
 */
export function resolveConfig(options: LoadConfigOptions = {}): ResolvedConfig {
  const argv = options.argv ?? process.argv.slice(2);
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();
  const args = parseConfigArgs(argv);

  const sources: ConfigSource[] = [{ kind: 'defaults', label: 'defaults' }];
  const layers: Assignment[][] = [];

  // The dotenv file is read first because it may name the YAML file (BACKBONE_CONFIG), but it is
  // applied after it: a dotenv value overrides the file, and the process env overrides both.
  const envFile = args.envFile === undefined ? undefined : resolve(cwd, args.envFile);
  const dotenv = envFile === undefined ? {} : parseDotenv(readText(envFile, 'env file'));
  const configName =
    args.configFile ?? nonEmpty(env['BACKBONE_CONFIG']) ?? nonEmpty(dotenv['BACKBONE_CONFIG']);
  if (configName !== undefined) {
    const file = resolve(cwd, configName);
    layers.push(yamlLayer(file));
    sources.push({ kind: 'file', label: `file ${file}` });
  }
  if (envFile !== undefined) {
    const layer = envLayer(dotenv, (name) => `env-file ${envFile} (${name})`);
    layers.push(layer);
    if (layer.length > 0) sources.push({ kind: 'env-file', label: `env-file ${envFile}` });
  }
  const envAssignments = envLayer(env, (name) => `env ${name}`);
  layers.push(envAssignments);
  if (envAssignments.length > 0) {
    const names = envAssignments.map((assignment) => assignment.source.slice('env '.length));
    sources.push({ kind: 'env', label: `env ${names.join(', ')}` });
  }
  const setAssignments = setLayer(args.sets);
  layers.push(setAssignments);
  if (setAssignments.length > 0) {
    sources.push({ kind: 'set', label: setAssignments.map((assignment) => assignment.source).join(', ') });
  }

  const merge = new ProvenanceMerge();
  for (const layer of layers) for (const assignment of layer) merge.apply(assignment);

  const result = systemConfigSchema.safeParse(merge.raw);
  if (!result.success) throw new ConfigError(issuesOf(result.error, merge), { cause: result.error });
  return { config: result.data, sources, sourceOf: (path) => merge.sourceOf(path) };
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

/**
 * Loads and validates the system configuration (see `resolveConfig` for the sources). Call it
 * once at start-up; never at import time.
 *
 * @throws {ConfigError} listing every invalid key, the reason and its source (`exitCode` 2).
 * @example const config = loadConfig(); const pool = new Pool({ connectionString: config.database.url })
 */
export function loadConfig(options: LoadConfigOptions = {}): SystemConfig {
  return resolveConfig(options).config;
}

/**
 * One line per contributing source, lowest precedence first, for `config print` and start-up logs.
 *
 * @example describeConfigSources(resolveConfig()) // ['defaults', 'env REDIS_URL']
 */
export function describeConfigSources(resolved: Pick<ResolvedConfig, 'sources'>): string[] {
  return resolved.sources.map((source) => source.label);
}
