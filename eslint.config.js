// @ts-check
import nx from '@nx/eslint-plugin';
import importX from 'eslint-plugin-import-x';
import prettier from 'eslint-config-prettier';
import tseslint from 'typescript-eslint';

const testFiles = ['**/*.test.ts', '**/test-support/**/*.ts', '**/vitest.config.ts', 'vitest.config.ts'];

export default tseslint.config(
  { ignores: ['**/node_modules/**', '**/dist/**', '.cache/**', '.nx/**', 'docs/**', 'fixtures/**'] },
  ...nx.configs['flat/base'],
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    plugins: { 'import-x': importX },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/require-await': 'error',
      '@typescript-eslint/only-throw-error': 'error',
      '@typescript-eslint/restrict-template-expressions': [
        'error',
        { allowNumber: true, allowBoolean: true },
      ],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'import-x/no-cycle': 'error',
      '@nx/enforce-module-boundaries': [
        'error',
        {
          enforceBuildableLibDependency: false,
          banTransitiveDependencies: true,
          depConstraints: [
            // Apps are process roles: they may use libraries, never each other.
            { sourceTag: 'type:app', onlyDependOnLibsWithTags: ['type:lib', 'type:testing'] },
            { sourceTag: 'type:lib', onlyDependOnLibsWithTags: ['type:lib', 'type:testing'] },
            { sourceTag: 'type:testing', onlyDependOnLibsWithTags: ['type:lib'] },
            // Shared libraries stand on nothing but each other.
            { sourceTag: 'scope:shared', onlyDependOnLibsWithTags: ['scope:shared'] },
            { sourceTag: 'scope:infra', onlyDependOnLibsWithTags: ['scope:shared'] },
            { sourceTag: 'scope:data', onlyDependOnLibsWithTags: ['scope:shared', 'scope:data'] },
            // Each worker's domain stands on the shared libs and the database, not on another worker's domain.
            {
              sourceTag: 'scope:ingest',
              onlyDependOnLibsWithTags: ['scope:shared', 'scope:data', 'scope:ingest'],
            },
            {
              sourceTag: 'scope:stream',
              onlyDependOnLibsWithTags: ['scope:shared', 'scope:data', 'scope:stream'],
            },
            {
              sourceTag: 'scope:cache',
              onlyDependOnLibsWithTags: ['scope:shared', 'scope:data', 'scope:cache'],
            },
            // Readiness observes everything; the operator CLI drives everything.
            {
              sourceTag: 'scope:readiness',
              onlyDependOnLibsWithTags: [
                'scope:shared',
                'scope:data',
                'scope:infra',
                'scope:ingest',
                'scope:stream',
                'scope:cache',
                'scope:readiness',
              ],
            },
          ],
        },
      ],
      // One owner per concern: only libs/config reads the environment, only libs/supervisor
      // ends the process or handles signals, uncaught faults and the parent going away.
      'no-restricted-properties': [
        'error',
        { object: 'process', property: 'env', message: 'Read configuration through @backbone/config.' },
        { object: 'process', property: 'exit', message: 'Only @backbone/supervisor ends the process.' },
      ],
      'no-restricted-syntax': [
        'error',
        {
          selector:
            "CallExpression[callee.object.name='process'][callee.property.name=/^(on|once)$/][arguments.0.value=/^(SIG|uncaughtException$|unhandledRejection$|disconnect$)/]",
          message: 'Only @backbone/supervisor handles signals, uncaught faults and the parent going away.',
        },
      ],
    },
  },
  {
    files: ['**/*.ts'],
    ignores: testFiles,
    rules: {
      'no-restricted-imports': [
        'error',
        { paths: [{ name: '@backbone/testing', message: 'The test harness is for tests only.' }] },
      ],
    },
  },
  { files: ['libs/config/src/**/*.ts'], rules: { 'no-restricted-properties': 'off' } },
  {
    files: ['libs/supervisor/src/**/*.ts'],
    rules: { 'no-restricted-properties': 'off', 'no-restricted-syntax': 'off' },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
  },
  prettier,
);
