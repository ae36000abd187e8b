import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The Prometheus binary is not on PATH. */
export class PrometheusNotInstalledError extends Error {
  override readonly name = 'PrometheusNotInstalledError';
  readonly binary: string;
  constructor(binary: string, options: { cause: unknown }) {
    super(`${binary} was not found; install Debian's Prometheus: apt-get install -y prometheus`, options);
    this.binary = binary;
  }
}

/** Prometheus exited before it was ready, or did not become ready in time. */
export class PrometheusStartError extends Error {
  override readonly name = 'PrometheusStartError';
  readonly output: string;
  constructor(message: string, output: string) {
    super(`${message}; last output:\n${output.split('\n').slice(-15).join('\n')}`);
    this.output = output;
  }
}

/** One sample of an instant query: the series' labels and its value. */
export interface PromSample {
  metric: Record<string, string>;
  value: number;
}

/** A Prometheus server started by {@link startPrometheus}. */
export interface PrometheusServer {
  /** `http://127.0.0.1:<port>`. */
  readonly url: string;
  /** Runs an instant query through `/api/v1/query`; throws on a PromQL error. */
  query(promql: string): Promise<PromSample[]>;
  /** The scrape targets and their health (`/api/v1/targets`). */
  targets(): Promise<{ job: string; health: string; lastError: string }[]>;
  /** Stops the server (SIGTERM, then waits for its exit) and deletes its storage. Idempotent. */
  stop(): Promise<void>;
}

/** Options for {@link startPrometheus}. */
export interface StartPrometheusOptions {
  /** prometheus.yml text. */
  config: string;
  /** The binary; `prometheus` on PATH by default. */
  binary?: string;
  /** How long to wait for `/-/ready`. */
  readyTimeoutMs?: number;
}

/**
 * Starts a real Prometheus server on a free 127.0.0.1 port with a temporary storage folder.
 *
 * @example
 * const prometheus = await startPrometheus({ config: 'scrape_configs: []' });
 * try { await prometheus.query('up'); } finally { await prometheus.stop(); }
 */
export async function startPrometheus(options: StartPrometheusOptions): Promise<PrometheusServer> {
  const binary = options.binary ?? 'prometheus';
  const dir = await mkdtemp(join(tmpdir(), 'backbone-prometheus-'));
  const configPath = join(dir, 'prometheus.yml');
  await writeFile(configPath, options.config);
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(
    binary,
    [
      `--config.file=${configPath}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const spawned = new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', reject);
  });
  try {
    await spawned;
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    if ((error as NodeJS.ErrnoException).code === 'ENOENT')
      throw new PrometheusNotInstalledError(binary, { cause: error });
    throw error;
  }

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
      await rm(dir, { recursive: true, force: true });
    })();
    return stopping;
  };

  try {
    await waitUntilReady(url, child, exited, options.readyTimeoutMs ?? 30_000, () => output);
  } catch (error) {
    await stop();
    throw error;
  }

  return {
    url,
    async query(promql) {
      const response = await fetch(
        `${url}/api/v1/query?${new URLSearchParams({ query: promql }).toString()}`,
      );
      const body = (await response.json()) as {
        status: string;
        error?: string;
        data?: { resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] };
      };
      if (body.status !== 'success' || body.data === undefined)
        throw new Error(`Prometheus query failed: ${promql}: ${body.error ?? response.statusText}`);
      if (body.data.resultType !== 'vector')
        throw new Error(`expected an instant vector from ${promql}, got ${body.data.resultType}`);
      return body.data.result.map((sample) => ({ metric: sample.metric, value: Number(sample.value[1]) }));
    },
    async targets() {
      const response = await fetch(`${url}/api/v1/targets`);
      const body = (await response.json()) as {
        data: { activeTargets: { labels: Record<string, string>; health: string; lastError: string }[] };
      };
      return body.data.activeTargets.map((target) => ({
        job: target.labels['job'] ?? '',
        health: target.health,
        lastError: target.lastError,
      }));
    },
    stop,
  };
}

async function waitUntilReady(
  url: string,
  child: ChildProcess,
  exited: Promise<number | null>,
  timeoutMs: number,
  output: () => string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exitCode: number | null | undefined;
  void exited.then((code) => (exitCode = code));
  while (Date.now() < deadline) {
    if (exitCode !== undefined || child.exitCode !== null)
      throw new PrometheusStartError(`prometheus exited with code ${String(child.exitCode)}`, output());
    try {
      if ((await fetch(`${url}/-/ready`)).ok) return;
    } catch {
      // Not listening yet.
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new PrometheusStartError(`prometheus was not ready within ${timeoutMs} ms`, output());
}

/** A TCP port free at the time of asking (the OS picks it). */
async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        if (address === null || typeof address === 'string') reject(new Error('no port'));
        else resolve(address.port);
      });
    });
  });
}
