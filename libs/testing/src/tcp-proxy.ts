import { createConnection, createServer, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy on 127.0.0.1 in front of a shared server (PostgreSQL, Redis, Kafka), so a test can
 * simulate that server going down and coming back without stopping it for the other tests.
 */
export interface TcpProxy {
  /** The local port to point the client under test at (`127.0.0.1:<port>`). */
  readonly port: number;
  /** Destroys every proxied connection and refuses new ones (accepted, then closed at once) until {@link restore}. */
  cut(): void;
  /** Accepts and proxies new connections again; connections cut earlier stay gone. */
  restore(): void;
  /** Destroys every connection and stops listening; the port is free afterwards. */
  close(): Promise<void>;
}

/**
 * Starts a {@link TcpProxy} on an ephemeral port of 127.0.0.1 that forwards to `target`.
 *
 * @example
 * const proxy = await startTcpProxy({ host: '127.0.0.1', port: 6379 });
 * afterAll(() => proxy.close());
 * const redis = new Redis(`redis://127.0.0.1:${proxy.port}`);
 * proxy.cut(); // Redis "down": live connections die, new ones are refused
 * proxy.restore(); // Redis "back"
 */
export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  let refusing = false;
  const server: Server = createServer((client) => {
    if (refusing) {
      client.destroy();
      return;
    }
    const upstream = createConnection(target);
    sockets.add(client);
    sockets.add(upstream);
    // Either side ending or failing ends the pair, as a dropped TCP connection would; the error
    // itself is expected (cut, target down) and only the closing matters to the test.
    const drop = (): void => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    for (const socket of [client, upstream]) {
      socket.on('error', drop);
      socket.on('close', drop);
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('TCP proxy has no TCP address');
  const destroyAll = (): void => {
    for (const socket of sockets) socket.destroy();
    sockets.clear();
  };
  return {
    port: address.port,
    cut() {
      refusing = true;
      destroyAll();
    },
    restore() {
      refusing = false;
    },
    async close() {
      refusing = true;
      destroyAll();
      await new Promise<void>((resolve) => {
        server.close(() => {
          resolve();
        });
      });
    },
  };
}
