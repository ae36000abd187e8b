import { randomInt } from 'node:crypto';
import { createServer } from 'node:net';

/**
 * Where {@link freePort} draws from: below Linux's ephemeral range (32768–60999 by default),
 * from which the kernel takes both the ports of `listen(0)` and the local ports of outgoing
 * connections. A port found free there can be taken a moment later by any client connecting to
 * PostgreSQL, Redis or Kafka (seen in CI: a Patroni REST port, picked free, refused by the time
 * Patroni bound it); below the range only a listener can take it.
 */
export const FREE_PORT_RANGE = { from: 20_000, to: 32_767 } as const;

/**
 * A TCP port of 127.0.0.1 that nothing listened on a moment ago (bound, then released): for a
 * server started next, or as an address where nothing answers.
 *
 * @example const port = await freePort(); // e.g. workers.readinessReporter.port, or redis://127.0.0.1:<port>
 */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 100; attempt += 1) {
    const port = randomInt(FREE_PORT_RANGE.from, FREE_PORT_RANGE.to + 1);
    if (await canBind(port)) return port;
  }
  throw new Error(`no free port found in ${FREE_PORT_RANGE.from}–${FREE_PORT_RANGE.to} after 100 attempts`);
}

function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => {
      resolve(false);
    });
    server.listen(port, '127.0.0.1', () => {
      server.close(() => {
        resolve(true);
      });
    });
  });
}
