import type { Item } from '@keylane/protocol';
import type { Queryable } from '../store/item-store.js';
import {
  dbRead,
  mutateOrThrow,
  plainFill,
  invalidateFirst,
  sleep,
  type Mutation,
  type Strategy,
  type StrategyContext,
} from './strategy.js';

/**
 * The article's cure: a key's misses and writes run in its lane, in arrival order. Correct
 * while one engine owns the key; two engines (a membership change) can still race.
 */
export class SerialStrategy implements Strategy {
  readonly name: 'serial' | 'serial-guarded' = 'serial';

  constructor(protected readonly ctx: StrategyContext) {}

  readMiss(id: bigint, cacheUsable: boolean): Promise<Item | null> {
    return this.ctx.lanes.run(id, async (client) => {
      if (!cacheUsable) return dbRead(this.ctx, client, id);
      const cached = await this.recheck(id);
      if (cached !== undefined) return cached;
      return this.missInLane(client, id);
    });
  }

  mutate<T>(id: bigint, mutation: Mutation<T>): Promise<T> {
    return this.ctx.lanes.run(id, async (client) => {
      await invalidateFirst(this.ctx, id);
      await sleep(this.ctx.options.chaos.writeDelayMs);
      return mutateOrThrow(this.ctx, client, mutation);
    });
  }

  /**
   * Inside the lane, an earlier miss of the same key may have filled the cache already:
   * a burst of N misses then costs one DB read. `undefined` means still a miss (or Redis
   * failed, in which case the caller's DB read will not manage to fill either).
   */
  protected async recheck(id: bigint): Promise<Item | null | undefined> {
    try {
      const again = await this.ctx.cache.get(id);
      if (!again.hit) return undefined;
      this.ctx.counters.coalesced += 1;
      return again.item;
    } catch {
      return undefined;
    }
  }

  protected async missInLane(client: Queryable, id: bigint): Promise<Item | null> {
    const item = await dbRead(this.ctx, client, id);
    await plainFill(this.ctx, id, item);
    return item;
  }
}
