import { readdir, readFile, writeFile, mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { barSchema } from './bar.ts';
import { deadLetterEnvelopeSchema } from './dead-letter.ts';
import { ingestRunEventSchema } from './ingest-run-event.ts';
import { JOBS, QUEUES, queueCatalog } from './jobs.ts';
import { macroEventSchema } from './macro-event.ts';
import { readinessSnapshotSchema } from './readiness-snapshot.ts';
import { tickSchema } from './tick.ts';

/**
 * Every published contract by file name stem. External producers and consumers read the JSON
 * Schemas generated from this list (docs/contracts/<name>.schema.json).
 */
export const publishedContracts = {
  'market-bar.v1': barSchema,
  'tick.v1': tickSchema,
  'macro-event.v1': macroEventSchema,
  'ingest-run-event.v1': ingestRunEventSchema,
  'readiness-snapshot.v1': readinessSnapshotSchema,
  'dead-letter-envelope.v1': deadLetterEnvelopeSchema,
  'job.ingest.run-plan.v1': queueCatalog[QUEUES.ingest][JOBS.runPlan],
  'job.cache-warm.warm-symbol.v1': queueCatalog[QUEUES.cacheWarm][JOBS.warmSymbol],
  'job.cache-warm.warm-all.v1': queueCatalog[QUEUES.cacheWarm][JOBS.warmAll],
} as const satisfies Record<string, z.ZodType>;

const SUFFIX = '.schema.json';

/**
 * The JSON Schema file of every published contract, by file name. Schemas describe what a
 * producer sends (`io: 'input'`); rules JSON Schema cannot express (timestamp alignment, future
 * skew, OHLC order, count sums) are stated in each schema's `description` and enforced by the zod
 * schema at every boundary.
 *
 * @example renderJsonSchemas().get('market-bar.v1.schema.json')
 */
export function renderJsonSchemas(): Map<string, string> {
  const files = new Map<string, string>();
  for (const [name, schema] of Object.entries(publishedContracts)) {
    const jsonSchema = z.toJSONSchema(schema, { io: 'input', target: 'draft-2020-12' });
    files.set(`${name}${SUFFIX}`, `${JSON.stringify(jsonSchema, null, 2)}\n`);
  }
  return files;
}

/**
 * Files in `dir` that differ from {@link renderJsonSchemas}: missing, changed, or a
 * `*.schema.json` no contract produces any more. Empty when the directory is fresh.
 */
export async function findStaleJsonSchemas(dir: string): Promise<string[]> {
  const expected = renderJsonSchemas();
  const present = (await listSchemaFiles(dir)).sort();
  const stale: string[] = [];
  for (const [file, content] of expected) {
    const actual = present.includes(file) ? await readFile(join(dir, file), 'utf8') : undefined;
    if (actual === undefined) stale.push(`${file} (missing)`);
    else if (actual !== content) stale.push(`${file} (out of date)`);
  }
  for (const file of present) if (!expected.has(file)) stale.push(`${file} (no contract produces it)`);
  return stale;
}

/** Writes every schema file to `dir` and removes `*.schema.json` files no contract produces. */
export async function writeJsonSchemas(dir: string): Promise<string[]> {
  const expected = renderJsonSchemas();
  await mkdir(dir, { recursive: true });
  for (const file of await listSchemaFiles(dir)) {
    if (!expected.has(file)) await rm(join(dir, file));
  }
  for (const [file, content] of expected) await writeFile(join(dir, file), content);
  return [...expected.keys()];
}

async function listSchemaFiles(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).filter((file) => file.endsWith(SUFFIX));
  } catch (error) {
    if (error instanceof Error && 'code' in error && error.code === 'ENOENT') return [];
    throw error;
  }
}
