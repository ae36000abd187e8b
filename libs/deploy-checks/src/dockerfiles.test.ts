import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startHealthServer } from '@backbone/telemetry';
import { describe, expect, it } from 'vitest';
import { WORKERS } from './metric-catalog.ts';
import { REPO_ROOT } from './paths.ts';

const run = promisify(execFile);

interface Instruction {
  keyword: string;
  args: string;
}

/** Instructions of a Dockerfile, continuation lines joined, comments dropped. */
function instructions(text: string): Instruction[] {
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

/** The exec-form argument list of the first `keyword` instruction in `steps`. */
function execForm(steps: Instruction[], keyword: 'CMD' | 'HEALTHCHECK'): string[] {
  const args = steps.find((step) => step.keyword === keyword)?.args ?? '';
  return JSON.parse(args.slice(args.indexOf('['))) as string[];
}

const dockerfile = 'docker/worker.Dockerfile';
const steps = instructions(await readFile(join(REPO_ROOT, dockerfile), 'utf8'));
const runtime = steps.slice(steps.findLastIndex((step) => step.keyword === 'FROM'));

// No Docker engine here: these checks read the Dockerfile; no image is built (docs/deployment.md).
describe(dockerfile, () => {
  it('builds in stages and runs on node:24-slim', () => {
    const stages = steps.filter((step) => step.keyword === 'FROM').map((step) => step.args);
    expect(stages).toEqual(['${NODE_IMAGE} AS build', '${NODE_IMAGE} AS deps', '${NODE_IMAGE} AS runtime']);
    expect(steps.find((step) => step.keyword === 'ARG')?.args).toBe('NODE_IMAGE=node:24-slim');
  });

  it('takes the worker only from the APP and PORT build arguments, which have no default', () => {
    const args = steps.filter((step) => step.keyword === 'ARG').map((step) => step.args);
    expect(new Set(args)).toEqual(new Set(['NODE_IMAGE=node:24-slim', 'APP', 'PORT']));
    const text = steps.map((step) => step.args).join('\n');
    for (const worker of WORKERS) expect(text).not.toContain(worker.app);
  });

  it('builds only APP and installs only its production dependencies', () => {
    const runs = steps.filter((step) => step.keyword === 'RUN').map((step) => step.args);
    expect(runs).toContain('npx nx run "$APP:build" --outputStyle=static');
    expect(runs.some((line) => line.startsWith('npm ci --omit=dev --workspace "@backbone/$APP" '))).toBe(
      true,
    );
  });

  it('runs as the non-root node user, exposing PORT', () => {
    expect(runtime.filter((step) => step.keyword === 'USER').map((step) => step.args)).toEqual(['node']);
    expect(runtime.find((step) => step.keyword === 'EXPOSE')?.args).toBe('${PORT}');
    expect(runtime.find((step) => step.keyword === 'ENV')?.args).toBe(
      'NODE_ENV=production WORKER_APP=${APP} HEALTHCHECK_PORT=${PORT}',
    );
  });

  it('has a HEALTHCHECK that passes while /livez on HEALTHCHECK_PORT answers 200, and fails otherwise', async () => {
    const [command = '', ...commandArgs] = execForm(runtime, 'HEALTHCHECK');
    expect(command).toBe('node');
    let live = true;
    const health = await startHealthServer({
      port: 0,
      host: '127.0.0.1',
      livez: () => live,
      readyz: () => Promise.resolve({ ready: false, details: {} }),
    });
    const check = async (): Promise<number> =>
      run(process.execPath, commandArgs, { env: { HEALTHCHECK_PORT: String(health.port) } }).then(
        () => 0,
        // execFile rejects with the child's exit code on a non-zero exit.
        (error: unknown) => (error as { code: number }).code,
      );
    try {
      expect(await check()).toBe(0);
      live = false;
      expect(await check()).toBe(1);
    } finally {
      await health.close();
    }
    expect(await check()).toBe(1);
  });

  it.each(WORKERS)(
    'starts $app from its built entry point with telemetry registered first, under the production condition',
    async (worker) => {
      const [shell, flag, script = ''] = execForm(runtime, 'CMD');
      expect([shell, flag]).toEqual(['/bin/sh', '-c']);
      expect(script).toMatch(/^exec node /);
      // The same script with printf in node's place prints the argument list node would get.
      const { stdout } = await run('/bin/sh', ['-c', script.replace(/^exec node /, "exec printf '%s\\n' ")], {
        env: { WORKER_APP: worker.app },
      });
      expect(stdout.trimEnd().split('\n')).toEqual([
        '--max-semi-space-size=16',
        '--conditions=production',
        '--enable-source-maps',
        '--import',
        '@backbone/telemetry/register',
        `apps/${worker.app}/dist/main.js`,
      ]);
      // tsc emits src/main.ts as dist/main.js only if the build config says so, and the deps
      // stage's `--workspace @backbone/$APP` finds the app only under that package name.
      const build = JSON.parse(
        await readFile(join(REPO_ROOT, `apps/${worker.app}/tsconfig.build.json`), 'utf8'),
      ) as { compilerOptions: { outDir: string; rootDir: string } };
      expect(build.compilerOptions).toMatchObject({ outDir: 'dist', rootDir: 'src' });
      const manifest = JSON.parse(
        await readFile(join(REPO_ROOT, `apps/${worker.app}/package.json`), 'utf8'),
      ) as {
        name: string;
      };
      expect(manifest.name).toBe(`@backbone/${worker.app}`);
    },
  );
});

describe('.dockerignore', () => {
  it('keeps local state, dependencies and secrets out of the build context', async () => {
    const ignored = (await readFile(join(REPO_ROOT, '.dockerignore'), 'utf8')).split('\n');
    for (const entry of ['**/node_modules', '**/dist', '.git', '.cache', '.env'])
      expect(ignored).toContain(entry);
  });
});
