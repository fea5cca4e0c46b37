import { createHash } from 'node:crypto';

/** Every code a guard script returns, in one place. */
export enum LeaseCode {
  Granted = 0,
  /** A live write marker exists: read the DB, do not fill. */
  WriteInProgress = 1,
  /** Another lease holder is filling. */
  Busy = 2,
}

export enum FillCode {
  Rejected = 0,
  Filled = 1,
}

export interface Script {
  readonly name: string;
  readonly lua: string;
  readonly sha: string;
  readonly keys: number;
}

function script(name: string, keys: number, lua: string): Script {
  return { name, keys, lua, sha: createHash('sha1').update(lua).digest('hex') };
}

// Redis' own clock in ms: every deadline the guard uses comes from one clock.
const NOW_MS = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`;

// string.format('%d') keeps 13-digit millisecond scores out of Lua's %.14g float formatting.
const PRUNE = `redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%d', now))`;

// A key's watermark (KEYS: its `lsn` hash) in Lua. LSNs are 'X/Y' in hex, each half at most
// 32 bits, so they compare exactly as two numbers; '' and a missing field sort lowest.
const WATERMARK = `
local function lsn_gt(a, b)
  if not b or b == '' then return a ~= '' end
  if a == '' then return false end
  local ah, al = string.match(a, '^(%x+)/(%x+)$')
  local bh, bl = string.match(b, '^(%x+)/(%x+)$')
  ah, al, bh, bl = tonumber(ah, 16), tonumber(al, 16), tonumber(bh, 16), tonumber(bl, 16)
  return ah > bh or (ah == bh and al > bl)
end
local function raise_lsn(key, lsn)
  if lsn_gt(lsn, redis.call('HGET', key, 'lsn')) then redis.call('HSET', key, 'lsn', lsn) end
end
-- Never shortens: absence must keep meaning "untouched for a whole watermark TTL".
local function keep(key, ttl)
  if redis.call('PTTL', key) < tonumber(ttl) then redis.call('PEXPIRE', key, ttl) end
end
`;

/**
 * Write begin. KEYS: writes, value, lease, soloWriter, watermark. ARGV: writer token, marker
 * TTL ms, watermark TTL ms.
 * Adds this writer's marker (score = its expiry on Redis' clock), stretches the set's TTL
 * to the latest expiry, drops the value and any lease. If no other marker was live, this
 * writer becomes the solo writer; otherwise nobody is (a live writer overlaps it). Counts the
 * write as begun in the watermark (`b`): until it ends cleanly (`e`), replicas are in doubt.
 * Returns Redis' now in ms.
 */
export const WRITE_BEGIN = script(
  'writeBegin',
  5,
  `${NOW_MS}
${WATERMARK}
${PRUNE}
if redis.call('ZCARD', KEYS[1]) == 0 then
  redis.call('SET', KEYS[4], ARGV[1], 'PX', ARGV[2])
else
  redis.call('DEL', KEYS[4])
end
redis.call('ZADD', KEYS[1], string.format('%d', now + tonumber(ARGV[2])), ARGV[1])
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
redis.call('PEXPIREAT', KEYS[1], last[2])
redis.call('DEL', KEYS[2], KEYS[3])
redis.call('HINCRBY', KEYS[5], 'b', 1)
keep(KEYS[5], ARGV[3])
return now`,
);

/**
 * Write end. KEYS: writes, value, lease, soloWriter, watermark. ARGV: writer token, '1' to
 * remove the marker, the encoded committed row or '' for none, cache TTL ms, the commit's LSN
 * or '' for none, watermark TTL ms.
 * Fills the value with the committed row only while this writer is still the solo writer:
 * no write was live when it began and none began since, so its commit is the DB's latest.
 * Otherwise deletes the value. The marker stays (to expire on its own) when the DB outcome
 * is unknown; so does the watermark's doubt. A clean end counts itself (`e`) and raises the
 * watermark to its commit LSN. Returns a FillCode.
 */
export const WRITE_END = script(
  'writeEnd',
  5,
  `${WATERMARK}
local code = ${FillCode.Rejected}
if redis.call('GET', KEYS[4]) == ARGV[1] then
  redis.call('DEL', KEYS[4])
  if ARGV[3] ~= '' then
    redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[4])
    code = ${FillCode.Filled}
  end
end
if code ~= ${FillCode.Filled} then redis.call('DEL', KEYS[2]) end
redis.call('DEL', KEYS[3])
if ARGV[2] == '1' then
  redis.call('ZREM', KEYS[1], ARGV[1])
  redis.call('HINCRBY', KEYS[5], 'e', 1)
  raise_lsn(KEYS[5], ARGV[5])
  keep(KEYS[5], ARGV[6])
end
return code`,
);

/** What a lease reports of the key's watermark (with `report`): none, every write ended cleanly, or some did not. */
export enum WatermarkState {
  None = 0,
  Clean = 1,
  Doubt = 2,
}

/**
 * Lease. KEYS: writes, lease, watermark. ARGV: token, lease TTL ms, '1' to report the
 * watermark. Returns a LeaseCode; with '1', `{ code, lsn or '', WatermarkState }` (read in the
 * same script as the markers, so no write can end between the two).
 */
export const LEASE = script(
  'lease',
  3,
  `${NOW_MS}
${PRUNE}
local code = ${LeaseCode.Busy}
if redis.call('ZCARD', KEYS[1]) > 0 then code = ${LeaseCode.WriteInProgress}
elseif redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2], 'NX') then code = ${LeaseCode.Granted} end
if ARGV[3] ~= '1' then return code end
local w = redis.call('HMGET', KEYS[3], 'lsn', 'b', 'e')
if not w[2] and not w[3] and not w[1] then return {code, '', ${WatermarkState.None}} end
local state = ${WatermarkState.Doubt}
if (tonumber(w[2]) or 0) == (tonumber(w[3]) or 0) then state = ${WatermarkState.Clean} end
return {code, w[1] or '', state}`,
);

/**
 * Fill. KEYS: lease, value, watermark. ARGV: token, encoded value, cache TTL ms, an LSN to
 * settle the watermark with or '', watermark TTL ms. The token still holding proves no write
 * began since the lease, and none was live then: every write counted so far has ended or is
 * past its deadline, so an LSN read after the lease covers their commits (`e` = `b`).
 * Returns a FillCode.
 */
export const FILL = script(
  'fill',
  3,
  `${WATERMARK}
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
  redis.call('DEL', KEYS[1])
  if ARGV[4] ~= '' then
    local b = redis.call('HGET', KEYS[3], 'b') or '0'
    redis.call('HSET', KEYS[3], 'b', b, 'e', b)
    raise_lsn(KEYS[3], ARGV[4])
    keep(KEYS[3], ARGV[5])
  end
  return ${FillCode.Filled}
end
return ${FillCode.Rejected}`,
);

/**
 * Invalidate (a change committed outside Keylane). KEYS: value, lease, soloWriter, watermark.
 * ARGV: watermark TTL ms. Drops the value, every outstanding lease and the solo-writer claim,
 * and counts a write whose LSN no one knows: replicas stay in doubt until a miss settles it.
 */
export const INVALIDATE = script(
  'invalidate',
  4,
  `${WATERMARK}
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
redis.call('HINCRBY', KEYS[4], 'b', 1)
keep(KEYS[4], ARGV[1])
return 1`,
);

/** Token-checked unlock for the `locked` strategy. KEYS: lock. ARGV: token. */
export const UNLOCK = script(
  'unlock',
  1,
  `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`,
);
