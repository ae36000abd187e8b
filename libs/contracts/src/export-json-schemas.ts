/**
 * `npm run contracts:export [-- --check]`: writes docs/contracts/<name>.schema.json for every
 * published contract; with `--check`, writes nothing and fails (exit code 1) listing stale files.
 */
import { resolve } from 'node:path';
import { findStaleJsonSchemas, writeJsonSchemas } from './json-schemas.ts';

const dir = resolve(import.meta.dirname, '../../../docs/contracts');

if (process.argv.includes('--check')) {
  const stale = await findStaleJsonSchemas(dir);
  if (stale.length > 0) {
    process.stderr.write(
      `Stale JSON Schemas in docs/contracts (run npm run contracts:export):\n${stale.map((f) => `  ${f}\n`).join('')}`,
    );
    process.exitCode = 1;
  } else {
    process.stdout.write('docs/contracts is up to date\n');
  }
} else {
  const written = await writeJsonSchemas(dir);
  process.stdout.write(`wrote ${written.length} JSON Schemas to docs/contracts\n`);
}
