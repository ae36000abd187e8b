import { createServer } from 'node:net';

/**
 * A TCP port of 127.0.0.1 that nothing listened on a moment ago (bound to port 0, then
 * released): for a server started next, or as an address where nothing answers.
 *
 * @example const port = await freePort(); // e.g. workers.readinessReporter.port, or redis://127.0.0.1:<port>
 */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        if (address === null || typeof address === 'string') reject(new Error('not a TCP server'));
        else resolve(address.port);
      });
    });
    server.once('error', reject);
  });
}
