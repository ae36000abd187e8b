import { join } from 'node:path';
import { ESLint } from 'eslint';
import tseslint from 'typescript-eslint';
import { describe, expect, it } from 'vitest';

// The workspace's module boundaries (eslint.config.js, `@nx/enforce-module-boundaries` on the
// type:/scope: tags of every project.json) checked with the real config and the real project
// graph: a deliberate app→app or lib→app import must fail `nx run <project>:lint`. The probe
// files exist only as text handed to ESLint; type-aware parsing is switched off for them, since
// the TypeScript project service only knows files on disk (the boundary rule does not need types).
const root = join(import.meta.dirname, '../../..');
const eslint = new ESLint({
  cwd: root,
  overrideConfig: [
    {
      files: ['**/*.ts'],
      ...tseslint.configs.disableTypeChecked,
      languageOptions: { parserOptions: { projectService: false, project: null } },
    },
  ],
});

async function boundaryErrors(file: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: join(root, file) });
  return (result?.messages ?? [])
    .filter((message) => message.ruleId === '@nx/enforce-module-boundaries')
    .map((message) => message.message);
}

describe('module boundaries', () => {
  it('fails lint for an app importing another app', { timeout: 60_000 }, async () => {
    const errors = await boundaryErrors(
      'apps/cache-warmer/src/boundary-probe.ts',
      "import * as bridge from '@backbone/stream-bridge';\nexport const probe = bridge;\n",
    );
    expect(errors).toEqual(['Imports of apps are forbidden']);
  });

  it('fails lint for a library importing an app', { timeout: 60_000 }, async () => {
    const errors = await boundaryErrors(
      'libs/deploy-checks/src/boundary-probe.ts',
      "import * as warmer from '@backbone/cache-warmer';\nexport const probe = warmer;\n",
    );
    expect(errors).toEqual(['Imports of apps are forbidden']);
  });

  it("fails lint for one worker's domain library importing another's", { timeout: 60_000 }, async () => {
    const errors = await boundaryErrors(
      'libs/cache/src/boundary-probe.ts',
      "import * as stream from '@backbone/stream';\nexport const probe = stream;\n",
    );
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBe(
      'A project tagged with "scope:cache" can only depend on libs tagged with "scope:shared", "scope:data", "scope:cache"',
    );
  });

  it('lets an app import the libraries its tags allow', { timeout: 60_000 }, async () => {
    const errors = await boundaryErrors(
      'apps/cache-warmer/src/boundary-probe.ts',
      "import * as cache from '@backbone/cache';\nexport const probe = cache;\n",
    );
    expect(errors).toEqual([]);
  });
});
