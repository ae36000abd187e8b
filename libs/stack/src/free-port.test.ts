import { once } from 'node:events';
import { connect, createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { FREE_PORT_RANGE, freePort } from './free-port.ts';

describe('freePort', () => {
  it('returns a port where nothing answers, and which a server can then bind', async () => {
    const port = await freePort();
    // Below the ephemeral range, where outgoing connections take their local ports.
    expect(port).toBeGreaterThanOrEqual(FREE_PORT_RANGE.from);
    expect(port).toBeLessThanOrEqual(FREE_PORT_RANGE.to);
    const refused = connect(port, '127.0.0.1');
    const [error] = (await once(refused, 'error')) as [NodeJS.ErrnoException];
    expect(error.code).toBe('ECONNREFUSED');

    const server = createServer();
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    try {
      expect(server.address()).toMatchObject({ port });
    } finally {
      await new Promise<void>((resolve) =>
        server.close(() => {
          resolve();
        }),
      );
    }
  });
});
