import { formatLongId, UnavailableError, type Item } from '@keylane/protocol';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { itemKeys, valueKey, type ItemKeys } from './keys.js';
import type { LeaseCode} from './scripts.js';
import { FILL, FillCode, LEASE, UNLOCK, WRITE_BEGIN, WRITE_END, type Script } from './scripts.js';

/** What a cache lookup found: nothing, or an entry (an item, or the tombstone `null`). */
export type CacheLookup = { hit: false } | { hit: true; item: Item | null };

// Absence is cached too, so misses of ids with no row do not reach the DB every time.
const TOMBSTONE = '-';

export interface CacheOptions {
  url: string;
  keyPrefix: string;
  commandTimeoutMs: number;
  cacheTtlMs: number;
  leaseTtlMs: number;
  markerTtlMs: number;
  /** A command failed (counted as a Redis error). */
  onError: (err: unknown) => void;
}

/**
 * Redis access for one engine. Fails fast while Redis is unreachable (no offline queue,
 * a command timeout, no retries) so callers can fall back to the DB instead of waiting;
 * ioredis keeps reconnecting on its own.
 */
export class Cache {
  readonly redis: Redis;
  /** The last connection error ioredis reported, for health(). */
  lastError: string | undefined;

  constructor(private readonly options: CacheOptions) {
    this.redis = new Redis(options.url, {
      lazyConnect: true,
      enableOfflineQueue: false,
      commandTimeout: options.commandTimeoutMs,
      connectTimeout: Math.max(1_000, options.commandTimeoutMs),
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      // Commands issued in one event-loop tick go out in one socket write. On loopback a
      // write runs the peer's TCP receive path in the writer's syscall, and the profile of a
      // busy instance's hit path showed those writes as its largest cost.
      enableAutoPipelining: true,
      retryStrategy: (attempt) => Math.min(50 * attempt, 1_000),
    });
    // ioredis emits 'error' on every failed reconnect; unhandled, that would crash the process.
    // Command failures are counted where they happen (call()); this only remembers the cause.
    this.redis.on('error', (err: Error) => {
      this.lastError = err.message;
    });
  }

  get ready(): boolean {
    return this.redis.status === 'ready';
  }

  async start(): Promise<void> {
    await this.redis.connect();
    for (const s of [WRITE_BEGIN, WRITE_END, LEASE, FILL, UNLOCK]) {
      await this.redis.script('LOAD', s.lua);
    }
  }

  keys(id: bigint): ItemKeys {
    return itemKeys(this.options.keyPrefix, id);
  }

  private valueKey(id: bigint): string {
    return valueKey(this.options.keyPrefix, id);
  }

  async get(id: bigint): Promise<CacheLookup> {
    const raw = await this.call(() => this.redis.get(this.valueKey(id)));
    if (raw === null) return { hit: false };
    return { hit: true, item: decode(id, raw) };
  }

  /** Unguarded fill (baseline strategies): SET with the cache TTL. */
  async set(id: bigint, item: Item | null): Promise<void> {
    await this.call(() => this.redis.set(this.valueKey(id), encode(item), 'PX', this.options.cacheTtlMs));
  }

  async del(id: bigint): Promise<void> {
    await this.call(() => this.redis.del(this.valueKey(id)));
  }

  /** Asks for a fill lease; `token` is meaningful only when `code` is Granted. */
  async lease(id: bigint): Promise<{ code: LeaseCode; token: string }> {
    const k = this.keys(id);
    const token = newToken();
    const code = await this.eval(LEASE, [k.writes, k.lease], [token, this.options.leaseTtlMs]);
    return { code: code as LeaseCode, token };
  }

  /** Fills only while the lease still holds `token`; true when it filled. */
  async fill(id: bigint, token: string, item: Item | null): Promise<boolean> {
    const k = this.keys(id);
    const code = await this.eval(FILL, [k.lease, k.value], [token, encode(item), this.options.cacheTtlMs]);
    return code === FillCode.Filled;
  }

  /** Puts up a write marker; returns Redis' clock (ms) at that moment. */
  async beginWrite(id: bigint, token: string): Promise<number> {
    const k = this.keys(id);
    const now = await this.eval(WRITE_BEGIN, [k.writes, k.value, k.lease, k.soloWriter], [token, this.options.markerTtlMs]);
    return Number(now);
  }

  /**
   * Ends a write. `committed` is the row it left (`null`: no row), or `undefined` when
   * nothing may be filled (refused, failed or unknown outcome); the row is filled only if
   * no other write overlapped this one. True when it filled.
   */
  async endWrite(id: bigint, token: string, removeMarker: boolean, committed?: Item | null): Promise<boolean> {
    const k = this.keys(id);
    const row = committed === undefined ? '' : encode(committed);
    const code = await this.eval(
      WRITE_END,
      [k.writes, k.value, k.lease, k.soloWriter],
      [token, removeMarker ? '1' : '0', row, this.options.cacheTtlMs],
    );
    return code === FillCode.Filled;
  }

  async tryLock(id: bigint, token: string, ttlMs: number): Promise<boolean> {
    const ok = await this.call(() => this.redis.set(this.keys(id).lock, token, 'PX', ttlMs, 'NX'));
    return ok === 'OK';
  }

  async unlock(id: bigint, token: string): Promise<void> {
    await this.eval(UNLOCK, [this.keys(id).lock], [token]);
  }

  /** The raw entry, for inspect(): undefined when nothing is cached. */
  async peek(id: bigint): Promise<Item | null | undefined> {
    const raw = await this.call(() => this.redis.get(this.valueKey(id)));
    return raw === null ? undefined : decode(id, raw);
  }

  async ping(): Promise<void> {
    await this.call(() => this.redis.ping());
  }

  async close(): Promise<void> {
    if (this.redis.status === 'ready') {
      await this.redis.quit().catch(() => this.redis.disconnect());
    } else {
      this.redis.disconnect();
    }
  }

  /** EVALSHA, falling back to EVAL when Redis lost its script cache (restart, SCRIPT FLUSH). */
  private async eval(s: Script, keys: string[], args: (string | number)[]): Promise<unknown> {
    return this.call(async () => {
      try {
        return await this.redis.evalsha(s.sha, s.keys, ...keys, ...args);
      } catch (err) {
        if (err instanceof Error && err.message.startsWith('NOSCRIPT')) {
          return this.redis.eval(s.lua, s.keys, ...keys, ...args);
        }
        throw err;
      }
    });
  }

  private async call<T>(command: () => Promise<T>): Promise<T> {
    try {
      return await command();
    } catch (err) {
      this.options.onError(err);
      throw new UnavailableError(`redis: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
  }
}

export function encode(item: Item | null): string {
  return item === null ? TOMBSTONE : JSON.stringify({ version: item.version, value: item.value });
}

function decode(id: bigint, raw: string): Item | null {
  if (raw === TOMBSTONE) return null;
  const parsed = JSON.parse(raw) as { version: number; value: unknown };
  return { id: formatLongId(id), value: parsed.value, version: parsed.version };
}

export function newToken(): string {
  return randomBytes(12).toString('base64url');
}
