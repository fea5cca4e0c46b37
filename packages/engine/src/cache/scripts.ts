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

/**
 * Write begin. KEYS: writes, value, lease, soloWriter. ARGV: writer token, marker TTL ms.
 * Adds this writer's marker (score = its expiry on Redis' clock), stretches the set's TTL
 * to the latest expiry, drops the value and any lease. If no other marker was live, this
 * writer becomes the solo writer; otherwise nobody is (a live writer overlaps it).
 * Returns Redis' now in ms.
 */
export const WRITE_BEGIN = script(
  'writeBegin',
  4,
  `${NOW_MS}
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
return now`,
);

/**
 * Write end. KEYS: writes, value, lease, soloWriter. ARGV: writer token, '1' to remove the
 * marker, the encoded committed row or '' for none, cache TTL ms.
 * Fills the value with the committed row only while this writer is still the solo writer:
 * no write was live when it began and none began since, so its commit is the DB's latest.
 * Otherwise deletes the value. The marker stays (to expire on its own) when the DB outcome
 * is unknown. Returns a FillCode.
 */
export const WRITE_END = script(
  'writeEnd',
  4,
  `local code = ${FillCode.Rejected}
if redis.call('GET', KEYS[4]) == ARGV[1] then
  redis.call('DEL', KEYS[4])
  if ARGV[3] ~= '' then
    redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[4])
    code = ${FillCode.Filled}
  end
end
if code ~= ${FillCode.Filled} then redis.call('DEL', KEYS[2]) end
redis.call('DEL', KEYS[3])
if ARGV[2] == '1' then redis.call('ZREM', KEYS[1], ARGV[1]) end
return code`,
);

/** Lease. KEYS: writes, lease. ARGV: token, lease TTL ms. Returns a LeaseCode. */
export const LEASE = script(
  'lease',
  2,
  `${NOW_MS}
${PRUNE}
if redis.call('ZCARD', KEYS[1]) > 0 then return ${LeaseCode.WriteInProgress} end
if redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2], 'NX') then return ${LeaseCode.Granted} end
return ${LeaseCode.Busy}`,
);

/** Fill. KEYS: lease, value. ARGV: token, encoded value, cache TTL ms. Returns a FillCode. */
export const FILL = script(
  'fill',
  2,
  `if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
  redis.call('DEL', KEYS[1])
  return ${FillCode.Filled}
end
return ${FillCode.Rejected}`,
);

/** Token-checked unlock for the `locked` strategy. KEYS: lock. ARGV: token. */
export const UNLOCK = script(
  'unlock',
  1,
  `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`,
);
