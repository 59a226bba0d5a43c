// Lua scripts run atomically inside Redis: a read-compare-write from two replicas cannot interleave, and the
// PUBLISH that tells every replica about a write happens in the same step as the write itself.

/** Revision of a stored state JSON, -1 when absent or unreadable (so a garbage entry can be replaced). */
const STORED_REVISION = `
local function stored_revision(raw)
  if not raw then return -1 end
  local ok, decoded = pcall(cjson.decode, raw)
  if ok and type(decoded) == 'table' and tonumber(decoded['revision']) then return tonumber(decoded['revision']) end
  return -1
end
`;

/**
 * KEYS: state hash, events channel. ARGV: routeId, expected revision, state JSON, message JSON.
 * Returns {1, ''} when written, {0, <stored JSON or ''>} when another writer got there first.
 */
export const COMPARE_AND_SET_LUA = `${STORED_REVISION}
local current = redis.call('HGET', KEYS[1], ARGV[1])
if stored_revision(current) ~= tonumber(ARGV[2]) then return {0, current or ''} end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('PUBLISH', KEYS[2], ARGV[4])
return {1, ''}
`;

/**
 * Writes a state only if it is newer than the stored one: a replica re-asserting what it decided while blind.
 * KEYS: state hash, events channel. ARGV: routeId, revision, state JSON, message JSON. Returns 1 when written.
 */
export const SET_IF_NEWER_LUA = `${STORED_REVISION}
local current = redis.call('HGET', KEYS[1], ARGV[1])
if stored_revision(current) >= tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('PUBLISH', KEYS[2], ARGV[4])
return 1
`;

/** KEYS: state hash, events channel. ARGV: routeId, message JSON. Returns 1 when a state was removed. */
export const REMOVE_LUA = `
local removed = redis.call('HDEL', KEYS[1], ARGV[1])
if removed == 1 then redis.call('PUBLISH', KEYS[2], ARGV[2]) end
return removed
`;

/**
 * Take the lease if free, renew it if `holder` has it; never touch another holder's lease.
 * KEYS: lease key. ARGV: holder, ttl ms. Returns 1 while `holder` holds the lease.
 */
export const ACQUIRE_LEASE_LUA = `
local current = redis.call('GET', KEYS[1])
if current == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if not current then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
`;

/** KEYS: lease key. ARGV: holder. Deletes the lease only if `holder` still has it. */
export const RELEASE_LEASE_LUA = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;
