import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import lockfile from 'proper-lockfile';
import type { HaState } from './ha/ha-cluster.ts';

/**
 * What `up` started, so that `down` stops exactly that and nothing it merely reused. Written
 * after every start, so a crash half-way through `up` still leaves `down` able to clean up.
 */
export interface StackState {
  /** The stack's own TimescaleDB cluster, started with pg_ctl as the postgres user. */
  timescaledb?: { kind: 'pg_ctl'; binDir: string; dataDir: string; port: number; startedAt: string };
  /** The machine's plain PostgreSQL, when `up` had to start its Debian cluster. */
  postgres?: { kind: 'pg_ctlcluster'; version: string; cluster: string; port: number; startedAt: string };
  redis?: { pid: number; port: number; startedAt: string };
  kafka?: { pid: number; port: number; propertiesFile: string; startedAt: string };
  /** `up --ha`: the etcd members, Patroni nodes and HAProxy it started. */
  ha?: HaState | undefined;
}

export function stateDir(cacheDir: string): string {
  return join(cacheDir, 'stack');
}

export async function readState(cacheDir: string): Promise<StackState> {
  try {
    return JSON.parse(await readFile(join(stateDir(cacheDir), 'state.json'), 'utf8')) as StackState;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw error;
  }
}

/** Applies `change` to the state file atomically (write to a temporary file, then rename). */
export async function updateState(
  cacheDir: string,
  change: (state: StackState) => void,
): Promise<StackState> {
  const state = await readState(cacheDir);
  change(state);
  const file = join(stateDir(cacheDir), 'state.json');
  await mkdir(stateDir(cacheDir), { recursive: true });
  await writeFile(`${file}.tmp`, `${JSON.stringify(state, null, 2)}\n`);
  await rename(`${file}.tmp`, file);
  return state;
}

/**
 * Runs `work` while holding the stack's lock, so two `up`s (the CLI and a test run's global
 * setup, or two developers' test runs) never both start a broker. proper-lockfile refreshes the
 * lock while it is held and treats it as stale when its holder died.
 */
export async function withStackLock<T>(cacheDir: string, work: () => Promise<T>): Promise<T> {
  const dir = stateDir(cacheDir);
  await mkdir(dir, { recursive: true });
  const release = await lockfile.lock(dir, {
    lockfilePath: join(dir, 'up.lock'),
    stale: 20_000,
    retries: { retries: 1_000, minTimeout: 100, maxTimeout: 500 },
  });
  try {
    return await work();
  } finally {
    await release();
  }
}
