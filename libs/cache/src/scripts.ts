import type { Redis } from 'ioredis';

/*
 * The cache's Redis side as Lua scripts, so that each step is one atomic round trip. The
 * scripts build value keys from the version hash (layout in keys.ts): a reader and a writer in
 * different processes always agree on the key of the current version.
 *
 * Scripts build some key names at run time (the versioned value key), which Redis Cluster does
 * not allow; the backbone runs a single Redis (or a replicated primary), see docs/cache.md.
 */

// The LRU score of an access: the server clock in microseconds, but always above the highest
// score in the set, so that two accesses in the same microsecond (or under a clock step back)
// still keep their order; ties would fall back to ZPOPMIN's lexical order and evict the wrong
// entry. Microseconds since the epoch stay exact in a double until the year 2255.
const LRU_STAMP = `
local function lru_stamp(lru)
  local t = redis.call('TIME')
  local now = t[1] * 1000000 + t[2]
  local top = redis.call('ZREVRANGE', lru, 0, 0, 'WITHSCORES')
  if top[2] and tonumber(top[2]) >= now then return tonumber(top[2]) + 1 end
  return now
end
`;

// KEYS: versions, lru. ARGV: prefix, dataset, symbol, entry, touch (1/0).
// Returns {versionTag, value|nil}; with touch=1 refreshes the entry's LRU score (server clock)
// on a hit. Clients touch an entry at most about once a second: LRU order at that granularity
// is plenty for eviction, and most hits then skip the ZADD write.
const READ = `${LRU_STAMP}
local v = redis.call('HMGET', KEYS[1], ARGV[2], ARGV[2] .. ':' .. ARGV[3])
local tag = (v[1] or '0') .. '.' .. (v[2] or '0')
local value = redis.call('GET', ARGV[1] .. 'val:' .. ARGV[2] .. ':' .. tag .. ':' .. ARGV[4])
if value and ARGV[5] == '1' then
  redis.call('ZADD', KEYS[2], 'XX', lru_stamp(KEYS[2]), ARGV[4])
end
return {tag, value}
`;

// KEYS: versions, lru. ARGV: prefix, dataset, symbol, entry, expectedTag, value, pxMs, maxKeys.
// Writes only when the versions are still the ones the loader started from: a load that raced
// an invalidation must not put pre-invalidation data under the new version. Then enforces the
// per-dataset capacity by evicting the least recently used entries (current-version keys).
// Returns {1, tag, evicted} or {0, currentTag}.
const WRITE = `${LRU_STAMP}
local v = redis.call('HMGET', KEYS[1], ARGV[2], ARGV[2] .. ':' .. ARGV[3])
local tag = (v[1] or '0') .. '.' .. (v[2] or '0')
if tag ~= ARGV[5] then return {0, tag, 0} end
redis.call('SET', ARGV[1] .. 'val:' .. ARGV[2] .. ':' .. tag .. ':' .. ARGV[4], ARGV[6], 'PX', ARGV[7])
redis.call('ZADD', KEYS[2], lru_stamp(KEYS[2]), ARGV[4])
local over = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[8])
local evicted = 0
if over > 0 then
  local victims = redis.call('ZPOPMIN', KEYS[2], over)
  for i = 1, #victims, 2 do
    local entry = victims[i]
    local symbol = string.match(entry, '^[^:]+')
    local ev = redis.call('HMGET', KEYS[1], ARGV[2], ARGV[2] .. ':' .. symbol)
    local etag = (ev[1] or '0') .. '.' .. (ev[2] or '0')
    redis.call('UNLINK', ARGV[1] .. 'val:' .. ARGV[2] .. ':' .. etag .. ':' .. entry)
    evicted = evicted + 1
  end
end
return {1, tag, evicted}
`;

// KEYS: lock. ARGV: token. Deletes the lock only if this loader still owns it.
const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

export interface CacheScripts {
  cacheRead(
    versions: string,
    lru: string,
    prefix: string,
    dataset: string,
    symbol: string,
    entry: string,
    touch: '1' | '0',
  ): Promise<[string, string | null]>;
  cacheWrite(
    versions: string,
    lru: string,
    prefix: string,
    dataset: string,
    symbol: string,
    entry: string,
    expectedTag: string,
    value: string,
    pxMs: number,
    maxKeys: number,
  ): Promise<[number, string, number]>;
  cacheRelease(lock: string, token: string): Promise<number>;
}

/** Registers the scripts on a client (EVALSHA with automatic EVAL fallback) and returns it typed. */
export function withCacheScripts(redis: Redis): Redis & CacheScripts {
  const commands = redis as unknown as Partial<CacheScripts>;
  if (commands.cacheRead === undefined) {
    redis.defineCommand('cacheRead', { numberOfKeys: 2, lua: READ });
    redis.defineCommand('cacheWrite', { numberOfKeys: 2, lua: WRITE });
    redis.defineCommand('cacheRelease', { numberOfKeys: 1, lua: RELEASE });
  }
  return redis as Redis & CacheScripts;
}
