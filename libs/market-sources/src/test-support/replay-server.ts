import { readFile } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';

/**
 * A recorded exchange with a provider API (format documented in docs/providers.md):
 * the request it answers and the responses it plays, in order, the last one repeating.
 */
export const recordingSchema = z.object({
  description: z.string(),
  request: z.object({
    method: z.string().default('GET'),
    /** Decoded path, e.g. `/v8/finance/chart/EURUSD=X`. */
    path: z.string(),
    /** Query parameters that must match: an exact value, or `*` for "present, any value". Others are ignored. */
    query: z.record(z.string(), z.string()).default({}),
  }),
  responses: z
    .array(
      z
        .object({
          status: z.number().int(),
          headers: z.record(z.string(), z.string()).default({}),
          /** A JSON body, serialised as is. */
          json: z.unknown().optional(),
          /** A raw body: HTML pages, truncated JSON, plain text. */
          body: z.string().optional(),
          /** Close the connection after this many bytes of the body (a transfer cut short). */
          cutAfterBytes: z.number().int().nonnegative().optional(),
        })
        .refine((r) => (r.json === undefined) !== (r.body === undefined), 'exactly one of json or body'),
    )
    .min(1),
});

export type Recording = z.infer<typeof recordingSchema>;

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  headers: IncomingHttpHeaders;
  /** Which recording answered (its file name), or undefined for an unmatched request (HTTP 599). */
  recording: string | undefined;
  /** Arrival time (epoch ms), to check backoff and rate-limit spacing. */
  at: number;
}

export interface ReplayServer {
  /** Base URL, e.g. `http://127.0.0.1:43121`. */
  url: string;
  requests: RecordedRequest[];
  close(): Promise<void>;
}

const recordingsDir = new URL('./recordings/', import.meta.url);

/** Loads recordings by name relative to `test-support/recordings/` (e.g. `yahoo/eurusd-1d.json`). */
export async function loadRecordings(
  names: readonly string[],
): Promise<{ name: string; recording: Recording }[]> {
  return Promise.all(
    names.map(async (name) => ({
      name,
      recording: recordingSchema.parse(JSON.parse(await readFile(new URL(name, recordingsDir), 'utf8'))),
    })),
  );
}

/**
 * Starts an HTTP server on 127.0.0.1 (random port) that replays recorded provider responses: the
 * first recording whose method, path and query match answers with its next response. Unmatched
 * requests get 599 and are logged, so a test sees exactly what the client sent.
 *
 * @example const server = await startReplayServer(['yahoo/eurusd-1d.json']); … await server.close();
 */
export async function startReplayServer(names: readonly string[]): Promise<ReplayServer> {
  const recordings = await loadRecordings(names);
  const played = new Map<string, number>();
  const requests: RecordedRequest[] = [];
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://replay');
    const path = decodeURIComponent(url.pathname);
    const query = Object.fromEntries(url.searchParams);
    const match = recordings.find(
      ({ recording: { request } }) =>
        request.method === req.method &&
        request.path === path &&
        Object.entries(request.query).every(([key, value]) =>
          value === '*' ? key in query : query[key] === value,
        ),
    );
    requests.push({
      method: req.method ?? '',
      path,
      query,
      headers: req.headers,
      recording: match?.name,
      at: Date.now(),
    });
    if (match === undefined) {
      res
        .writeHead(599, { 'content-type': 'text/plain' })
        .end(`no recording for ${req.method ?? ''} ${req.url ?? ''}`);
      return;
    }
    const index = played.get(match.name) ?? 0;
    played.set(match.name, index + 1);
    const response = match.recording.responses[Math.min(index, match.recording.responses.length - 1)];
    if (response === undefined) throw new Error('unreachable: responses has at least one entry');
    const body = response.body ?? JSON.stringify(response.json);
    if (response.cutAfterBytes !== undefined) {
      // Announce the full length, send part of it, then drop the connection.
      res.writeHead(response.status, {
        ...response.headers,
        'content-length': String(Buffer.byteLength(body)),
      });
      res.write(Buffer.from(body).subarray(0, response.cutAfterBytes), () => res.destroy());
      return;
    }
    res.writeHead(response.status, response.headers).end(body);
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
