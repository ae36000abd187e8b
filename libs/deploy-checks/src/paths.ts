import { fileURLToPath } from 'node:url';

/** The repository root, where docker/, deploy/ and apps/ live. */
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
