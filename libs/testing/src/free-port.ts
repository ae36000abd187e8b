import { createServer } from 'node:net';

/**
 * A TCP port of 127.0.0.1 that nothing listened on a moment ago (bound to port 0, then
 * released): for a server the test starts next, or as an address where nothing answers.
 *
 * @example const port = await freePort(); // e.g. workers.readinessReporter.port, or redis://127.0.0.1:<port>
 */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) =>
    server.close(() => {
      resolve();
    }),
  );
  if (address === null || typeof address === 'string') throw new Error('a TCP server has no TCP address');
  return address.port;
}
