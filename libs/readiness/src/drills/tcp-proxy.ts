import { createConnection, createServer, type Server, type Socket } from 'node:net';

/** Where the proxy forwards to. */
export interface ProxyTarget {
  host: string;
  port: number;
}

/**
 * A TCP proxy a drill puts in front of a dependency (Redis, Kafka, PostgreSQL) and can cut: while
 * cut, open connections are destroyed and new ones are accepted and dropped at once, which is what
 * clients see when the service dies. Restoring lets connections through again. The real service is
 * never touched, so drills can run next to anything else using it.
 *
 * @example const proxy = await CuttableTcpProxy.start({ host: '127.0.0.1', port: 6379 }); proxy.cut(); proxy.restore();
 */
export class CuttableTcpProxy {
  readonly #server: Server;
  readonly #target: ProxyTarget;
  readonly #sockets = new Set<Socket>();
  #cut = false;

  private constructor(server: Server, target: ProxyTarget) {
    this.#server = server;
    this.#target = target;
  }

  /** Starts listening on a free port of `listenHost` (default 127.0.0.1). */
  static async start(target: ProxyTarget, listenHost = '127.0.0.1'): Promise<CuttableTcpProxy> {
    const server = createServer();
    const proxy = new CuttableTcpProxy(server, target);
    server.on('connection', (client) => {
      proxy.#accept(client);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, listenHost, () => {
        server.off('error', reject);
        resolve();
      });
    });
    return proxy;
  }

  /** The port clients connect to instead of the service's. */
  get port(): number {
    const address = this.#server.address();
    if (address === null || typeof address === 'string') throw new Error('the proxy is not listening');
    return address.port;
  }

  /** True while cut. */
  get isCut(): boolean {
    return this.#cut;
  }

  /** Drops every open connection and refuses traffic until {@link restore}. */
  cut(): void {
    this.#cut = true;
    for (const socket of this.#sockets) socket.destroy();
    this.#sockets.clear();
  }

  /** Lets connections through again. */
  restore(): void {
    this.#cut = false;
  }

  /** Drops every connection and stops listening. */
  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) =>
      this.#server.close(() => {
        resolve();
      }),
    );
  }

  #accept(client: Socket): void {
    if (this.#cut) {
      client.destroy();
      return;
    }
    const upstream = createConnection(this.#target);
    for (const socket of [client, upstream]) {
      this.#sockets.add(socket);
      // A reset on either side ends both; errors are the expected outcome of a cut.
      socket.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
      socket.on('close', () => {
        this.#sockets.delete(socket);
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  }
}
