import type { Item } from '@keylane/protocol';
import type { StrategyName } from '../types.js';
import {
  dbRead,
  invalidateFirst,
  mutateOrThrow,
  plainFill,
  requireRedis,
  sleep,
  type Mutation,
  type Strategy,
  type StrategyContext,
} from './strategy.js';

/**
 * Shared read path of the unserialized baselines: DB read on the pool, then a plain SET.
 * They run on a pg.Pool of `lanes` connections rather than on the lanes, so nothing orders
 * one key's work: that is what these baselines are for.
 */
export abstract class UnserializedStrategy implements Strategy {
  abstract readonly name: StrategyName;

  constructor(protected readonly ctx: StrategyContext) {}

  async readMiss(id: bigint, cacheUsable: boolean): Promise<Item | null> {
    const item = await dbRead(this.ctx, this.ctx.pool, id);
    if (cacheUsable) await plainFill(this.ctx, id, item);
    return item;
  }

  abstract mutate<T>(id: bigint, mutation: Mutation<T>): Promise<T>;

  protected async dbMutation<T>(mutation: Mutation<T>): Promise<T> {
    await sleep(this.ctx.options.chaos.writeDelayMs);
    return mutateOrThrow(this.ctx, this.ctx.pool, mutation);
  }
}

/** DB write, then DEL. A DEL that fails after the commit is counted, not thrown: the write happened. */
export class CacheAsideStrategy extends UnserializedStrategy {
  readonly name = 'cache-aside' as const;

  async mutate<T>(id: bigint, mutation: Mutation<T>): Promise<T> {
    requireRedis(this.ctx);
    const result = await this.dbMutation(mutation);
    await this.ctx.cache.del(id).catch(() => undefined);
    return result;
  }
}

/** DEL, then DB write: the article's rule without serialization. */
export class InvalidateFirstStrategy extends UnserializedStrategy {
  readonly name = 'invalidate-first' as const;

  async mutate<T>(id: bigint, mutation: Mutation<T>): Promise<T> {
    await invalidateFirst(this.ctx, id);
    return this.dbMutation(mutation);
  }
}

/** DEL, DB write, then a second DEL `doubleDeleteDelayMs` later in the background. */
export class DoubleDeleteStrategy extends UnserializedStrategy {
  readonly name = 'double-delete' as const;

  async mutate<T>(id: bigint, mutation: Mutation<T>): Promise<T> {
    await invalidateFirst(this.ctx, id);
    try {
      return await this.dbMutation(mutation);
    } finally {
      this.ctx.track(
        sleep(this.ctx.options.doubleDeleteDelayMs).then(() => this.ctx.cache.del(id)).catch(() => undefined),
      );
    }
  }
}
