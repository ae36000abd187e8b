import type { Redis } from 'ioredis';

/*
 * The cache's Redis side as Lua scripts, so that each step is one atomic round trip. The
 * scripts build value keys from the version hash (layout in keys.ts): a reader and a writer in
 * different processes always agree on the key of the current version.
 *
 * Scripts build some key names at run time (the versioned value key), which Redis Cluster does
 * not allow; the backbone runs a single Redis (or a replicated primary), see docs/cache.md.
 */

// The key layout of keys.ts in Lua. A slice's version tag is `<dataset version>.<entry
// version>`: the dataset's field moves every slice of the dataset, the entry's field
// (`<dataset>:<symbol>[:<timeframe>]`) only that one slice.
const LAYOUT = `
local function version_tag(versions, dataset, entry)
  local v = redis.call('HMGET', versions, dataset, dataset .. ':' .. entry)
  return (v[1] or '0') .. '.' .. (v[2] or '0')
end
local function value_key(prefix, dataset, tag, entry)
  return prefix .. 'slice:' .. dataset .. ':' .. tag .. ':' .. entry
end
`;

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

// KEYS: versions, lru. ARGV: prefix, dataset, entry, touch (1/0).
// Returns {versionTag, value|nil}; with touch=1 refreshes the entry's LRU score (server clock)
// on a hit. Clients touch an entry at most about once a second: LRU order at that granularity
// is plenty for eviction, and most hits then skip the ZADD write.
const READ = `${LAYOUT}${LRU_STAMP}
local tag = version_tag(KEYS[1], ARGV[2], ARGV[3])
local value = redis.call('GET', value_key(ARGV[1], ARGV[2], tag, ARGV[3]))
if value and ARGV[4] == '1' then
  redis.call('ZADD', KEYS[2], 'XX', lru_stamp(KEYS[2]), ARGV[3])
end
return {tag, value}
`;

// KEYS: versions, lru. ARGV: prefix, dataset, entry, expectedTag, value, pxMs, maxKeys.
// Writes only when the versions are still the ones the loader started from: a load that raced
// an invalidation must not put pre-invalidation data under the new version. Then enforces the
// per-dataset capacity by evicting the least recently used entries (current-version keys).
// Returns {1, tag, evicted} or {0, currentTag}.
const WRITE = `${LAYOUT}${LRU_STAMP}
local tag = version_tag(KEYS[1], ARGV[2], ARGV[3])
if tag ~= ARGV[4] then return {0, tag, 0} end
redis.call('SET', value_key(ARGV[1], ARGV[2], tag, ARGV[3]), ARGV[5], 'PX', ARGV[6])
redis.call('ZADD', KEYS[2], lru_stamp(KEYS[2]), ARGV[3])
local over = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[7])
local evicted = 0
if over > 0 then
  local victims = redis.call('ZPOPMIN', KEYS[2], over)
  for i = 1, #victims, 2 do
    local entry = victims[i]
    redis.call('UNLINK', value_key(ARGV[1], ARGV[2], version_tag(KEYS[1], ARGV[2], entry), entry))
    evicted = evicted + 1
  end
end
return {1, tag, evicted}
`;

// KEYS: versions, lru. ARGV: prefix, dataset, entry... (none: the whole dataset).
// Moves the versions and deletes the values they supersede in the same step, so that no old
// value waits for its TTL in memory (no reader can reach it after the bump anyway). The values
// of a whole dataset are those of the entries its LRU set tracks: every write adds its entry
// there, and eviction removes entry and value together. Returns the number of values deleted.
const INVALIDATE = `${LAYOUT}
local deleted = 0
local function drop(entry)
  local key = value_key(ARGV[1], ARGV[2], version_tag(KEYS[1], ARGV[2], entry), entry)
  deleted = deleted + redis.call('UNLINK', key)
end
if #ARGV == 2 then
  for _, entry in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do drop(entry) end
  redis.call('HINCRBY', KEYS[1], ARGV[2], 1)
else
  for i = 3, #ARGV do
    drop(ARGV[i])
    redis.call('HINCRBY', KEYS[1], ARGV[2] .. ':' .. ARGV[i], 1)
  end
end
return deleted
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
    entry: string,
    touch: '1' | '0',
  ): Promise<[string, string | null]>;
  cacheWrite(
    versions: string,
    lru: string,
    prefix: string,
    dataset: string,
    entry: string,
    expectedTag: string,
    value: string,
    pxMs: number,
    maxKeys: number,
  ): Promise<[number, string, number]>;
  cacheInvalidate(
    versions: string,
    lru: string,
    prefix: string,
    dataset: string,
    ...entries: string[]
  ): Promise<number>;
  cacheRelease(lock: string, token: string): Promise<number>;
}

/** Registers the scripts on a client (EVALSHA with automatic EVAL fallback) and returns it typed. */
export function withCacheScripts(redis: Redis): Redis & CacheScripts {
  const commands = redis as unknown as Partial<CacheScripts>;
  if (commands.cacheRead === undefined) {
    redis.defineCommand('cacheRead', { numberOfKeys: 2, lua: READ });
    redis.defineCommand('cacheWrite', { numberOfKeys: 2, lua: WRITE });
    redis.defineCommand('cacheInvalidate', { numberOfKeys: 2, lua: INVALIDATE });
    redis.defineCommand('cacheRelease', { numberOfKeys: 1, lua: RELEASE });
  }
  return redis as Redis & CacheScripts;
}
