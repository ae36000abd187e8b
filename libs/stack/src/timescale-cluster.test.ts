import { describe, expect, it } from 'vitest';
import { renderSettings } from './postgres-cluster.ts';
import { TIMESCALEDB_BACKGROUND_WORKERS, timescaleClusterSettings } from './timescale-cluster.ts';

describe('timescaleClusterSettings', () => {
  it.each([1, 2, 16])(
    'sizes max_worker_processes as background workers + parallel workers (= cores) + 3 on %i cores',
    (cpus) => {
      const settings = timescaleClusterSettings({
        endpoint: { host: '127.0.0.1', port: 5433 },
        socketDir: '/srv/cache/timescaledb/5433',
        cpus,
      });
      expect(settings).toMatchObject({
        'timescaledb.max_background_workers': TIMESCALEDB_BACKGROUND_WORKERS,
        max_parallel_workers: cpus,
        max_worker_processes: TIMESCALEDB_BACKGROUND_WORKERS + cpus + 3,
        shared_preload_libraries: 'timescaledb',
        'timescaledb.telemetry_level': 'off',
        listen_addresses: '127.0.0.1',
        port: 5433,
        unix_socket_directories: '/srv/cache/timescaledb/5433',
      });
    },
  );

  it('goes without a unix socket when its path would pass the 107-byte limit', () => {
    const socketDir = `/${'deep/'.repeat(20)}timescaledb/5433`;
    expect(
      timescaleClusterSettings({ endpoint: { host: '127.0.0.1', port: 5433 }, socketDir, cpus: 2 })
        .unix_socket_directories,
    ).toBe('');
  });
});

describe('renderSettings', () => {
  it('quotes strings (doubling quotes) and leaves numbers and booleans bare', () => {
    expect(
      renderSettings({ shared_preload_libraries: 'timescaledb', port: 5433, fsync: true, note: "it's" }),
    ).toBe("shared_preload_libraries = 'timescaledb'\nport = 5433\nfsync = true\nnote = 'it''s'\n");
  });
});
