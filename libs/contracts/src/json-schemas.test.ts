import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  findStaleJsonSchemas,
  publishedContracts,
  renderJsonSchemas,
  writeJsonSchemas,
} from './json-schemas.ts';
import { queueCatalog } from './jobs.ts';
import { topicCatalog } from './topics.ts';

const docsDir = resolve(import.meta.dirname, '../../../docs/contracts');

describe('docs/contracts', () => {
  it('is fresh: run `npm run contracts:export` after changing a contract', async () => {
    expect(await findStaleJsonSchemas(docsDir)).toEqual([]);
  });
});

describe('publishedContracts', () => {
  it('publishes the value schema of every topic and the payload schema of every job', () => {
    const published = new Set<unknown>(Object.values(publishedContracts));
    for (const contract of Object.values(topicCatalog)) expect(published.has(contract.value)).toBe(true);
    for (const jobs of Object.values(queueCatalog)) {
      for (const schema of Object.values(jobs)) expect(published.has(schema)).toBe(true);
    }
  });

  it('states the rules JSON Schema cannot express in the bar schema description', () => {
    const bar = JSON.parse(renderJsonSchemas().get('market-bar.v1.schema.json') ?? '{}') as {
      description: string;
      properties: { ts: { description: string } };
    };
    expect(bar.description).toContain('low <= min(open, close) <= max(open, close) <= high');
    expect(bar.properties.ts.description).toMatch(/aligned to the timeframe/);
    expect(bar.properties.ts.description).toMatch(/skew/);
  });
});

describe('findStaleJsonSchemas', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'contracts-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('lists every file as missing in an empty directory', async () => {
    const stale = await findStaleJsonSchemas(dir);
    expect(stale).toHaveLength(Object.keys(publishedContracts).length);
    expect(stale).toContain('market-bar.v1.schema.json (missing)');
  });

  it('is empty after writing, and names a changed file and a leftover file', async () => {
    await writeJsonSchemas(dir);
    expect(await findStaleJsonSchemas(dir)).toEqual([]);

    const file = join(dir, 'tick.v1.schema.json');
    await writeFile(file, (await readFile(file, 'utf8')).replace('"buy"', '"bid"'));
    await writeFile(join(dir, 'market-bar.v0.schema.json'), '{}\n');
    expect(await findStaleJsonSchemas(dir)).toEqual([
      'tick.v1.schema.json (out of date)',
      'market-bar.v0.schema.json (no contract produces it)',
    ]);

    await writeJsonSchemas(dir);
    expect(await findStaleJsonSchemas(dir)).toEqual([]);
  });
});
