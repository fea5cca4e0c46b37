import { UnavailableError } from '@keylane/protocol';
import { newToken } from '../cache/cache.js';
import type { Admission } from '../db/lane.js';
import type { MutationPlan } from '../db/transaction.js';
import type { KeyRef } from '../entity/key-ref.js';
import { UnserializedStrategy } from './unserialized.js';
import { inPool, loadText, plainFill, refuseLate, sleep } from './strategy.js';

/**
 * A per-key Redis mutex (SET NX PX, token-checked release) around misses and mutations.
 * Correct only while every holder finishes within `lockTtlMs`: a holder paused past it
 * loses the lock without knowing, which is the weakness the guard's deadline removes.
 */
export class LockedStrategy extends UnserializedStrategy {
  readonly name = 'locked' as const;

  override async readMiss(ref: KeyRef, cacheUsable: boolean, admission: Admission): Promise<string> {
    refuseLate(ref, admission);
    if (!cacheUsable || !this.ctx.cache.ready) return inPool(this.ctx, (session) => loadText(ref, session));
    // The holder's fill usually answers the waiters: they re-check the cache between
    // attempts instead of queueing for the lock one by one.
    const filled = async (): Promise<{ item: string } | undefined> => {
      const again = await this.ctx.cache.get(ref.tag);
      if (again === null) return undefined;
      ref.entity.counters.coalesced += 1;
      return { item: again };
    };
    return this.withLock(
      ref,
      async () => {
        const cached = await filled();
        if (cached) return cached.item;
        const text = await inPool(this.ctx, (session) => loadText(ref, session));
        await plainFill(this.ctx, ref, text);
        return text;
      },
      filled,
    );
  }

  async mutate<R>(ref: KeyRef, plan: MutationPlan<R>, admission: Admission): Promise<R> {
    return this.withLock(ref, async () => {
      const result = await this.dbMutation(ref, plan, admission);
      await this.ctx.cache.del(ref.tag).catch(() => undefined);
      return result;
    });
  }

  private async withLock<T>(
    ref: KeyRef,
    body: () => Promise<T>,
    whileWaiting?: () => Promise<{ item: T } | undefined>,
  ): Promise<T> {
    const token = newToken();
    const { lockTtlMs } = this.ctx.options;
    const giveUpAt = Date.now() + lockTtlMs;
    let backoff = 2;
    while (!(await this.ctx.cache.tryLock(ref.tag, token, lockTtlMs))) {
      const settled = await whileWaiting?.();
      if (settled) return settled.item;
      if (Date.now() > giveUpAt) {
        throw new UnavailableError(
          `lock of ${ref.entity.name} ${ref.text} stayed busy for lockTtlMs (${lockTtlMs} ms); nothing was done`,
        );
      }
      await sleep(backoff);
      backoff = Math.min(backoff * 2, 50);
    }
    try {
      return await body();
    } finally {
      await this.ctx.cache.unlock(ref.tag, token).catch(() => undefined);
    }
  }
}
