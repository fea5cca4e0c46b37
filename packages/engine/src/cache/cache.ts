import { UnavailableError } from '@keylane/protocol';
import { randomBytes } from 'node:crypto';
import { Redis, type ChainableCommander, type Cluster } from 'ioredis';
import { channels, traceCall } from '../diagnostics.js';
import { MarkerNotReplicatedError } from '../errors.js';
import { watermarkTtlMs, type ResolvedRedis } from '../options/index.js';
import { guardKeys, valueKey, type GuardKeys } from './keys.js';
import { FILL, FillCode, INVALIDATE, LEASE, UNLOCK, WRITE_BEGIN, WRITE_END, type LeaseCode, type Script, type WatermarkState } from './scripts.js';

/** Absence is cached too, so misses of ids with no row do not reach the DB every time. */
export const TOMBSTONE = '-';

/** A key's watermark as a lease saw it: the highest recorded commit LSN ('' for none) and whether every write ended cleanly. */
export interface Watermark {
  readonly lsn: string;
  readonly state: WatermarkState;
}

/** What a cache lookup found: nothing, or an entry (the codec's text, or TOMBSTONE). */
export type CacheLookup = string | null;

export interface CacheOptions {
  redis: ResolvedRedis;
  /** The engine's id, for diagnostics events. @default 0 */
  engine?: number;
  leaseTtlMs: number;
  markerTtlMs: number;
  /** How long a key's watermark outlives its last write. @default watermarkTtlMs(markerTtlMs) */
  watermarkTtlMs?: number;
  /** Test-only (the unsafe twin): fill right after Redis came back with another run_id. */
  ignoreRestarts?: boolean;
  /** A command failed (counted as a Redis error). */
  onError: (err: unknown) => void;
}

/**
 * Redis access for one engine, by hash tag (`{prefix:entity:id}`). With a client it creates,
 * it fails fast while Redis is unreachable (no offline queue, a command timeout, no retries)
 * so callers can fall back to the DB instead of waiting; ioredis keeps reconnecting on its
 * own. A client the user passed is used as configured and never closed.
 */
export class Cache {
  readonly redis: Redis | Cluster;
  private readonly owned: boolean;
  /** The last connection or command error, for health(). */
  lastError: string | undefined;
  /** Times Redis came back as another server (its run_id changed): its markers may be gone. */
  restarts = 0;
  /**
   * Fills wait until the connection is known to reach the Redis it reached before (same
   * run_id), or, after a restart, until every write that might have lost its marker is past
   * its deadline (markerTtlMs). A reader filling earlier could put back a row such a write
   * is about to replace, and nothing would tell it.
   */
  #verified = false;
  #holdUntil = 0;
  #runId: string | undefined;
  /** Write ends that failed: their value and lease are deleted again once Redis is back. */
  readonly #unfinished = new Set<string>();
  /**
   * With `markerReplicas`, the begin scripts and invalidations go over a connection of their
   * own: `WAIT` blocks the connection it is sent on until the replicas answer (up to its
   * timeout), and the cache hits must not queue behind it.
   */
  readonly #marker: Redis | Cluster | undefined;
  #replayTimer: NodeJS.Timeout | undefined;
  readonly #watermarkTtlMs: number;

  constructor(private readonly options: CacheOptions) {
    this.#watermarkTtlMs = options.watermarkTtlMs ?? watermarkTtlMs(options.markerTtlMs);
    const replicated = options.redis.markerReplication.replicas > 0;
    if (options.redis.kind === 'client') {
      this.redis = options.redis.client;
      this.owned = false;
      this.#marker = replicated ? this.redis.duplicate() : undefined;
      this.#marker?.on('error', () => undefined);
      this.watchConnection();
      return;
    }
    const { url, commandTimeoutMs } = options.redis;
    this.owned = true;
    this.redis = new Redis(url, {
      lazyConnect: true,
      enableOfflineQueue: false,
      commandTimeout: commandTimeoutMs,
      connectTimeout: Math.max(1_000, commandTimeoutMs),
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
    this.#marker = replicated ? this.redis.duplicate({ enableAutoPipelining: false }) : undefined;
    this.#marker?.on('error', () => undefined);
    this.watchConnection();
  }

  /** Whether a fill may go ahead now (see #verified). */
  get fillsAllowed(): boolean {
    return this.#verified && performance.now() >= this.#holdUntil;
  }

  /** Remembers a write whose end script failed, for the reconnect to clean up after. */
  endFailed(tag: string): void {
    if (this.#unfinished.size >= MAX_UNFINISHED) {
      // Too many to replay: hold every fill for a marker's life instead.
      this.#unfinished.clear();
      this.#holdUntil = performance.now() + this.options.markerTtlMs;
    }
    this.#unfinished.add(tag);
    if (!(this.redis instanceof Redis)) this.scheduleReplay();
  }

  /**
   * A Cluster has no one 'ready' to replay failed write ends on (each node reconnects on its
   * own, a failover moves slots): retry them on a timer until they go through.
   */
  private scheduleReplay(): void {
    if (this.#replayTimer !== undefined) return;
    this.#replayTimer = setTimeout(() => {
      this.#replayTimer = undefined;
      void (async () => {
        for (const tag of [...this.#unfinished]) {
          const k = guardKeys(tag);
          try {
            await this.redis.del(k.value, k.lease, k.soloWriter);
            this.#unfinished.delete(tag);
          } catch {
            this.scheduleReplay();
            return;
          }
        }
      })();
    }, REPLAY_INTERVAL_MS);
    this.#replayTimer.unref();
  }

  private watchConnection(): void {
    // Only a standalone Redis has one run_id to compare. A Cluster's masters each have their
    // own, and a fill can land on a promoted replica (through a MOVED redirect) before any
    // event tells this process the slot changed hands: there `markerReplicas` is what keeps
    // markers through a failover (README "Scaling out").
    if (!(this.redis instanceof Redis)) {
      this.#verified = true;
      return;
    }
    const redis = this.redis;
    redis.on('close', () => {
      this.#verified = false;
    });
    redis.on('ready', () => {
      void this.verify(redis);
    });
  }

  private async verify(redis: Redis): Promise<void> {
    let runId: string | undefined;
    try {
      const info = await redis.info('server');
      runId = /^run_id:(\S+)/m.exec(info)?.[1];
    } catch {
      return; // The next 'ready' tries again; fills stay held meanwhile.
    }
    if (this.#runId !== undefined && runId !== this.#runId) {
      this.restarts += 1;
      if (!this.options.ignoreRestarts) this.#holdUntil = performance.now() + this.options.markerTtlMs;
    }
    this.#runId = runId;
    for (const tag of [...this.#unfinished]) {
      const k = guardKeys(tag);
      try {
        await redis.del(k.value, k.lease, k.soloWriter);
        this.#unfinished.delete(tag);
      } catch {
        return;
      }
    }
    this.#verified = true;
  }

  get ready(): boolean {
    return this.redis.status === 'ready';
  }

  async start(): Promise<void> {
    if (this.owned) await (this.redis as Redis).connect();
    else if (this.redis.status === 'wait') await this.redis.connect();
    if (this.#marker?.status === 'wait') await this.#marker.connect();
    if (this.redis instanceof Redis) await this.verify(this.redis);
    // A Cluster routes SCRIPT LOAD to one node only; there EVALSHA falls back to EVAL per node.
    if (this.redis instanceof Redis) {
      for (const s of [WRITE_BEGIN, WRITE_END, LEASE, FILL, INVALIDATE, UNLOCK]) await this.redis.script('LOAD', s.lua);
    } else {
      await this.redis.ping();
    }
  }

  keys(tag: string): GuardKeys {
    return guardKeys(tag);
  }

  // The hit path's one command: written out instead of through `call`, which costs a closure and
  // an async frame per hit.
  async get(tag: string): Promise<CacheLookup> {
    try {
      return await this.redis.get(valueKey(tag));
    } catch (err) {
      throw this.failed(err);
    }
  }

  /** Unguarded fill (baseline strategies): SET with the entity's TTL. */
  async set(tag: string, text: string, ttlMs: number): Promise<void> {
    await this.call(() => this.redis.set(valueKey(tag), text, 'PX', ttlMs));
  }

  async del(tag: string): Promise<void> {
    await this.call(() => this.redis.del(valueKey(tag)));
  }

  /**
   * `invalidate`: the begin and end scripts around no write, in one command. Drops the value,
   * every outstanding lease (their fills are refused) and the solo-writer claim (a Keylane
   * write that committed before the outside change must not fill its now older row).
   */
  async invalidate(tag: string): Promise<void> {
    const k = guardKeys(tag);
    const keys = [k.value, k.lease, k.soloWriter, k.watermark];
    const args = [this.#watermarkTtlMs];
    if (this.#marker === undefined) {
      await this.eval(INVALIDATE, keys, args);
      return;
    }
    const { acknowledged, required } = await this.replicated((p, lua) =>
      lua ? p.eval(INVALIDATE.lua, INVALIDATE.keys, ...keys, ...args) : p.evalsha(INVALIDATE.sha, INVALIDATE.keys, ...keys, ...args),
    );
    if (acknowledged < required) {
      throw new MarkerNotReplicatedError(
        `${tag}: the invalidation reached ${acknowledged} of the ${required} Redis replicas required (redis.markerReplicas) ` +
          `within ${this.options.redis.markerReplication.timeoutMs} ms; it holds on the master, but a failover could lose it: retry`,
        acknowledged,
        required,
      );
    }
  }

  /**
   * Asks for a fill lease; `token` is meaningful only when `code` is Granted. With `report`,
   * also the key's watermark as it stood when the lease was decided.
   */
  async lease(tag: string, report = false): Promise<{ code: LeaseCode; token: string; watermark?: Watermark }> {
    const k = guardKeys(tag);
    const token = newToken();
    const answer = await this.eval(LEASE, [k.writes, k.lease, k.watermark], [token, this.options.leaseTtlMs, report ? '1' : '0']);
    if (!Array.isArray(answer)) return { code: answer as LeaseCode, token };
    const [code, lsn, state] = answer as [LeaseCode, string, WatermarkState];
    return { code, token, watermark: { lsn, state } };
  }

  /**
   * Fills only while the lease still holds `token`; true when it filled. `settleLsn`: an LSN
   * read after the lease was granted, which then becomes the watermark of every write so far.
   */
  async fill(tag: string, token: string, text: string, ttlMs: number, settleLsn = ''): Promise<boolean> {
    const k = guardKeys(tag);
    const code = await this.eval(FILL, [k.lease, k.value, k.watermark], [token, text, ttlMs, settleLsn, this.#watermarkTtlMs]);
    return code === FillCode.Filled;
  }

  /** Puts up a write marker; returns Redis' clock (ms) at that moment. */
  async beginWrite(tag: string, token: string): Promise<number> {
    const k = guardKeys(tag);
    const keys = [k.writes, k.value, k.lease, k.soloWriter, k.watermark];
    const args = [token, this.options.markerTtlMs, this.#watermarkTtlMs];
    if (this.#marker === undefined) return Number(await this.eval(WRITE_BEGIN, keys, args));
    const { result, acknowledged, required } = await this.replicated((p, lua) =>
      lua ? p.eval(WRITE_BEGIN.lua, WRITE_BEGIN.keys, ...keys, ...args) : p.evalsha(WRITE_BEGIN.sha, WRITE_BEGIN.keys, ...keys, ...args),
    );
    if (acknowledged < required) {
      // The marker is up on the master only; take it down again (best effort: it expires anyway).
      await this.endWrite(tag, token, true, undefined, 1).catch(() => undefined);
      throw new MarkerNotReplicatedError(
        `${tag}: the write marker reached ${acknowledged} of the ${required} Redis replicas required (redis.markerReplicas) ` +
          `within ${this.options.redis.markerReplication.timeoutMs} ms, so the write was not attempted (nothing was committed); retry`,
        acknowledged,
        required,
      );
    }
    return Number(result);
  }

  /**
   * One command then `WAIT replicas timeout`, in one pipeline on the marker connection: a
   * Cluster sends a pipeline to the master of its keys' slot, and WAIT counts the replicas
   * that acknowledged this connection's writes, so it answers for that command. `lua`: the
   * script's text instead of its sha (after NOSCRIPT).
   */
  private async replicated(
    command: (p: ChainableCommander, lua: boolean) => ChainableCommander,
  ): Promise<{ result: unknown; acknowledged: number; required: number }> {
    const marker = this.#marker!;
    const { replicas, timeoutMs } = this.options.redis.markerReplication;
    return this.call(async () => {
      let lua = false;
      for (;;) {
        const replies = await command(marker.pipeline(), lua).wait(replicas, timeoutMs).exec();
        const [first, wait] = replies ?? [];
        if (!first || !wait) throw new Error('redis answered no replies to a pipeline');
        const [err, result] = first;
        if (err && !lua && err.message.startsWith('NOSCRIPT')) {
          lua = true;
          continue;
        }
        if (err) throw err;
        if (wait[0]) throw wait[0];
        return { result, acknowledged: Number(wait[1]), required: replicas };
      }
    });
  }

  /**
   * Ends a write. `committed` is the text of the value it left, or `undefined` when nothing
   * may be filled (refused, failed or unknown outcome, or no value given); it is filled only
   * if no other write overlapped this one. `lsn`: the commit's LSN, for the watermark. True
   * when it filled.
   */
  async endWrite(
    tag: string,
    token: string,
    removeMarker: boolean,
    committed: string | undefined,
    ttlMs: number,
    lsn = '',
  ): Promise<boolean> {
    const k = guardKeys(tag);
    const code = await this.eval(
      WRITE_END,
      [k.writes, k.value, k.lease, k.soloWriter, k.watermark],
      [token, removeMarker ? '1' : '0', committed ?? '', ttlMs, lsn, this.#watermarkTtlMs],
    );
    return code === FillCode.Filled;
  }

  async tryLock(tag: string, token: string, ttlMs: number): Promise<boolean> {
    const ok = await this.call(() => this.redis.set(guardKeys(tag).lock, token, 'PX', ttlMs, 'NX'));
    return ok === 'OK';
  }

  async unlock(tag: string, token: string): Promise<void> {
    await this.eval(UNLOCK, [guardKeys(tag).lock], [token]);
  }

  async ping(): Promise<void> {
    await this.call(() => this.redis.ping());
  }

  async close(): Promise<void> {
    clearTimeout(this.#replayTimer);
    const marker = this.#marker;
    if (marker) await marker.quit().catch(() => marker.disconnect());
    if (!this.owned) return;
    const redis = this.redis as Redis;
    if (redis.status === 'ready') {
      await redis.quit().catch(() => redis.disconnect());
    } else {
      redis.disconnect();
    }
  }

  /** EVALSHA, falling back to EVAL when Redis lost its script cache (restart, SCRIPT FLUSH). */
  private eval(s: Script, keys: string[], args: (string | number)[]): Promise<unknown> {
    if (!channels.redisScript.hasSubscribers) return this.evalScript(s, keys, args);
    return traceCall(channels.redisScript, { engine: this.options.engine ?? 0, script: s.name }, () =>
      this.evalScript(s, keys, args),
    ) as Promise<unknown>;
  }

  private async evalScript(s: Script, keys: string[], args: (string | number)[]): Promise<unknown> {
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
      throw this.failed(err);
    }
  }

  /** A Redis command failed: report it and say so as the engine's error. */
  private failed(err: unknown): UnavailableError {
    this.options.onError(err);
    if (!this.owned) this.lastError = err instanceof Error ? err.message : String(err);
    return new UnavailableError(`redis: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
}

const MAX_UNFINISHED = 100_000;
const REPLAY_INTERVAL_MS = 250;

export function newToken(): string {
  return randomBytes(12).toString('base64url');
}
