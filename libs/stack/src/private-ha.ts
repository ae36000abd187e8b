import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureHaCluster, stopHaCluster } from './ha/ha-cluster.ts';
import { freeHaPorts, haEndpoints, haOptions, type HaEndpoints, type HaOptions } from './ha/ha-options.ts';

/**
 * A PostgreSQL HA cluster of its owner's own (3 etcd, a Patroni primary + synchronous standby with
 * TimescaleDB, HAProxy) on free loopback ports under a temporary folder, so a drill or a
 * benchmark can kill and switch its primary without touching the shared servers or the stack's
 * own `up --ha` cluster.
 */
export interface PrivateHaCluster {
  readonly ha: HaOptions;
  /** `databaseUrl` through HAProxy (the primary, read-write), `patroniUrls`, `nodeUrls`. */
  readonly endpoints: HaEndpoints;
  /** The temporary cache folder holding the cluster's data and state file. */
  readonly cacheDir: string;
  /** Stops every process the cluster runs and deletes its folder. */
  dispose(): Promise<void>;
}

export interface PrivateHaClusterOptions {
  /** Names the temporary folder (`<tmp>/backbone-<purpose>-ha-…`), so a leftover one says whose it was. */
  purpose: string;
  /** Progress lines ("starting etcd …"). */
  log?: (message: string) => void;
  /** How long to wait for the leader, the synchronous standby and the proxy (default 60 s). */
  startTimeoutMs?: number;
}

/**
 * Starts a private HA cluster (about 10 s here) and creates its database `backbone`.
 *
 * @example const cluster = await startPrivateHaCluster({ purpose: 'drill' }); await killPrimaryPostmaster(cluster.ha); await cluster.dispose();
 */
export async function startPrivateHaCluster(input: PrivateHaClusterOptions): Promise<PrivateHaCluster> {
  const ports = await freeHaPorts();
  const cacheDir = await mkdtemp(
    join(tmpdir(), `backbone-${input.purpose}-ha-${randomBytes(3).toString('hex')}-`),
  );
  const ha = haOptions({ ...ports, enabled: true, startTimeoutMs: input.startTimeoutMs ?? 60_000 }, cacheDir);
  const dispose = async (): Promise<void> => {
    try {
      await stopHaCluster(ha, cacheDir);
    } finally {
      await rm(cacheDir, { recursive: true, force: true });
    }
  };
  try {
    // mkdtemp makes it 0700: PostgreSQL runs as the postgres user and must reach its node folders.
    await chmod(cacheDir, 0o755);
    await ensureHaCluster(ha, cacheDir, input.log ?? (() => undefined));
  } catch (error) {
    await dispose();
    throw error;
  }
  return { ha, endpoints: haEndpoints(ha), cacheDir, dispose };
}
