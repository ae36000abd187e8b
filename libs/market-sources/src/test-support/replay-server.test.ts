import { readdir } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { loadRecordings, startReplayServer } from './replay-server.ts';

describe('recordings', () => {
  it('every recording file follows the documented format', async () => {
    const names: string[] = [];
    for (const provider of ['yahoo', 'fred']) {
      const files = await readdir(new URL(`./recordings/${provider}/`, import.meta.url));
      names.push(...files.map((file) => `${provider}/${file}`));
    }
    expect(names.length).toBeGreaterThanOrEqual(20);
    const recordings = await loadRecordings(names);
    for (const { name, recording } of recordings) expect(recording.description, name).not.toBe('');
  });

  it('plays responses in order, repeats the last, matches query patterns and answers 599 otherwise', async () => {
    const server = await startReplayServer(['yahoo/gbpusd-429-then-ok.json']);
    try {
      const get = async (path: string): Promise<number> => (await fetch(`${server.url}${path}`)).status;
      expect(await get('/v8/finance/chart/GBPUSD%3DX?interval=1d&period1=1')).toBe(429);
      expect(await get('/v8/finance/chart/GBPUSD=X?interval=1d')).toBe(200);
      expect(await get('/v8/finance/chart/GBPUSD=X?interval=1d')).toBe(200);
      expect(await get('/v8/finance/chart/GBPUSD=X?interval=1m')).toBe(599);
      expect(server.requests.map((r) => r.recording)).toEqual([
        'yahoo/gbpusd-429-then-ok.json',
        'yahoo/gbpusd-429-then-ok.json',
        'yahoo/gbpusd-429-then-ok.json',
        undefined,
      ]);
    } finally {
      await server.close();
    }
  });
});
