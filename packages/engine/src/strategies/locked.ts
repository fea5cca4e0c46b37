import { UnavailableError, type Item } from '@keylane/protocol';
import { newToken } from '../cache/cache.js';
import { UnserializedStrategy } from './unserialized.js';
import { dbRead, plainFill, sleep, type Mutation } from './strategy.js';

/**
 * A per-key Redis mutex (SET NX PX, token-checked release) around misses and writes.
 * Correct only while every holder finishes within `lockTtlMs`: a holder paused past it
 * loses the lock without knowing, which is the weakness the guard's deadline removes.
 */
export class LockedStrategy extends UnserializedStrategy {
  readonly name = 'locked' as const;

  override async readMiss(id: bigint, cacheUsable: boolean): Promise<Item | null> {
    if (!cacheUsable || !this.ctx.cache.ready) return dbRead(this.ctx, this.ctx.pool, id);
    // The holder's fill usually answers the waiters: they re-check the cache between
    // attempts instead of queueing for the lock one by one.
    const filled = async (): Promise<{ item: Item | null } | undefined> => {
      const again = await this.ctx.cache.get(id);
      if (!again.hit) return undefined;
      this.ctx.counters.coalesced += 1;
      return { item: again.item };
    };
    return this.withLock(
      id,
      async () => {
        const cached = await filled();
        if (cached) return cached.item;
        const item = await dbRead(this.ctx, this.ctx.pool, id);
        await plainFill(this.ctx, id, item);
        return item;
      },
      filled,
    );
  }

  async mutate<T>(id: bigint, mutation: Mutation<T>): Promise<T> {
    return this.withLock(id, async () => {
      const result = await this.dbMutation(mutation);
      await this.ctx.cache.del(id).catch(() => undefined);
      return result;
    });
  }

  private async withLock<T>(
    id: bigint,
    body: () => Promise<T>,
    whileWaiting?: () => Promise<{ item: T } | undefined>,
  ): Promise<T> {
    const token = newToken();
    const { lockTtlMs } = this.ctx.options;
    const giveUpAt = Date.now() + lockTtlMs;
    let backoff = 2;
    while (!(await this.ctx.cache.tryLock(id, token, lockTtlMs))) {
      const settled = await whileWaiting?.();
      if (settled) return settled.item;
      if (Date.now() > giveUpAt) {
        throw new UnavailableError(`lock of item ${id} stayed busy for lockTtlMs (${lockTtlMs} ms); nothing was done`);
      }
      await sleep(backoff);
      backoff = Math.min(backoff * 2, 50);
    }
    try {
      return await body();
    } finally {
      await this.ctx.cache.unlock(id, token).catch(() => undefined);
    }
  }
}
