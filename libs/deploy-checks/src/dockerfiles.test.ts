import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { WORKERS } from './metric-catalog.ts';
import { REPO_ROOT } from './paths.ts';

/** Instructions of a Dockerfile, continuation lines joined, comments dropped. */
function instructions(text: string): { keyword: string; args: string }[] {
  return text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const [keyword = '', ...rest] = line.split(/\s+/);
      return { keyword: keyword.toUpperCase(), args: rest.join(' ') };
    });
}

// No Docker engine here: these checks read the Dockerfiles; no image is built (docs/deployment.md).
describe.each(WORKERS)('apps/$app/Dockerfile', (worker) => {
  const load = async (): Promise<{ keyword: string; args: string }[]> =>
    instructions(await readFile(join(REPO_ROOT, `apps/${worker.app}/Dockerfile`), 'utf8'));

  it('builds in stages and runs on node:24-slim', async () => {
    const steps = await load();
    const stages = steps.filter((step) => step.keyword === 'FROM').map((step) => step.args);
    expect(stages).toEqual(['${NODE_IMAGE} AS build', '${NODE_IMAGE} AS deps', '${NODE_IMAGE} AS runtime']);
    expect(steps.find((step) => step.keyword === 'ARG')?.args).toBe('NODE_IMAGE=node:24-slim');
  });

  it('builds only this app and installs only its production dependencies', async () => {
    const runs = (await load()).filter((step) => step.keyword === 'RUN').map((step) => step.args);
    expect(runs).toContain(`npx nx run ${worker.app}:build --outputStyle=static`);
    expect(runs.some((run) => run.startsWith(`npm ci --omit=dev --workspace @backbone/${worker.app} `))).toBe(
      true,
    );
    const otherApps = WORKERS.filter((other) => other.app !== worker.app).map((other) => other.app);
    for (const run of runs) for (const other of otherApps) expect(run).not.toContain(other);
  });

  it('runs as the non-root node user with a /livez healthcheck on its port', async () => {
    const steps = await load();
    const runtime = steps.slice(steps.findLastIndex((step) => step.keyword === 'FROM'));
    expect(runtime.filter((step) => step.keyword === 'USER').map((step) => step.args)).toEqual(['node']);
    const healthcheck = runtime.find((step) => step.keyword === 'HEALTHCHECK')?.args ?? '';
    expect(healthcheck).toContain(`http://127.0.0.1:${worker.port}/livez`);
    expect(runtime.find((step) => step.keyword === 'EXPOSE')?.args).toBe(String(worker.port));
  });

  it('starts the built entry point with telemetry registered first, under the production condition', async () => {
    const steps = await load();
    const cmd = JSON.parse(steps.find((step) => step.keyword === 'CMD')?.args ?? '[]') as string[];
    expect(cmd).toEqual([
      'node',
      '--conditions=production',
      '--enable-source-maps',
      '--import',
      '@backbone/telemetry/register',
      `apps/${worker.app}/dist/main.js`,
    ]);
    // tsc emits src/main.ts as dist/main.js only if the build config says so.
    const build = JSON.parse(
      await readFile(join(REPO_ROOT, `apps/${worker.app}/tsconfig.build.json`), 'utf8'),
    ) as {
      compilerOptions: { outDir: string; rootDir: string };
    };
    expect(build.compilerOptions).toMatchObject({ outDir: 'dist', rootDir: 'src' });
  });
});

describe('.dockerignore', () => {
  it('keeps local state, dependencies and secrets out of the build context', async () => {
    const ignored = (await readFile(join(REPO_ROOT, '.dockerignore'), 'utf8')).split('\n');
    for (const entry of ['**/node_modules', '**/dist', '.git', '.cache', '.env'])
      expect(ignored).toContain(entry);
  });
});
