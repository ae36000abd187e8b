import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * Recordings in the format of libs/market-sources (docs/providers.md): `request` {method, path,
 * query: exact value or `*`} and `responses` (the last one repeats). Only JSON bodies are needed
 * here; the provider's handling of broken bodies is tested in libs/market-sources.
 */
interface Recording {
  request: { method: string; path: string; query: Record<string, string> };
  responses: { status: number; headers: Record<string, string>; json: unknown }[];
}

export interface FredReplay {
  url: string;
  /** Every request as `path?query`, in arrival order. */
  requests: string[];
  close(): Promise<void>;
}

/**
 * A local FRED: answers each request with the first matching recording under
 * `recordings/fred/`, 599 when none matches (so an unexpected request fails the run loudly).
 *
 * @example const fred = await startFredReplay(['releases-dates-q4.json']); … await fred.close();
 */
export async function startFredReplay(names: readonly string[]): Promise<FredReplay> {
  const recordings = await Promise.all(
    names.map(
      async (name) =>
        JSON.parse(
          await readFile(new URL(`./recordings/fred/${name}`, import.meta.url), 'utf8'),
        ) as Recording,
    ),
  );
  const played = new Map<Recording, number>();
  const requests: string[] = [];
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://replay');
    requests.push(`${url.pathname}${url.search}`);
    const match = recordings.find(
      ({ request }) =>
        request.method === req.method &&
        request.path === url.pathname &&
        Object.entries(request.query).every(([key, value]) =>
          value === '*' ? url.searchParams.has(key) : url.searchParams.get(key) === value,
        ),
    );
    const index = match === undefined ? 0 : (played.get(match) ?? 0);
    const response = match?.responses[Math.min(index, match.responses.length - 1)];
    if (match === undefined || response === undefined) {
      res.writeHead(599, { 'content-type': 'text/plain' }).end('no recording');
      return;
    }
    played.set(match, index + 1);
    res.writeHead(response.status, response.headers).end(JSON.stringify(response.json));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => {
          if (error) reject(error);
          else resolve();
        });
      }),
  };
}
