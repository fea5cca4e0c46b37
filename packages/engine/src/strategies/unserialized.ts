import type { Admission } from '../db/lane.js';
import type { MutationPlan } from '../db/transaction.js';
import type { KeyRef } from '../entity/key-ref.js';
import type { StrategyName } from '../types.js';
import {
  inPool,
  invalidateFirst,
  loadText,
  plainFill,
  refuseLate,
  requireRedis,
  settle,
  sleep,
  transaction,
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

  async readMiss(ref: KeyRef, cacheUsable: boolean, admission: Admission): Promise<string> {
    refuseLate(ref, admission);
    const text = await inPool(this.ctx, (session) => loadText(ref, session));
    if (cacheUsable) await plainFill(this.ctx, ref, text);
    return text;
  }

  abstract mutate<R>(ref: KeyRef, plan: MutationPlan<R>, admission: Admission): Promise<R>;

  /** The transaction on a pool connection, no deadline but the caller's start check. */
  protected async dbMutation<R>(ref: KeyRef, plan: MutationPlan<R>, admission: Admission): Promise<R> {
    refuseLate(ref, admission);
    await sleep(this.ctx.options.chaos.writeDelayMs);
    return inPool(this.ctx, async (session) => settle(ref, await transaction(this.ctx, ref, session, plan, null)));
  }
}

/** DB write, then DEL. A DEL that fails after the commit is counted, not thrown: the write happened. */
export class CacheAsideStrategy extends UnserializedStrategy {
  readonly name = 'cache-aside' as const;

  async mutate<R>(ref: KeyRef, plan: MutationPlan<R>, admission: Admission): Promise<R> {
    requireRedis(this.ctx);
    const result = await this.dbMutation(ref, plan, admission);
    await this.ctx.cache.del(ref.tag).catch(() => undefined);
    return result;
  }
}

/** DEL, then DB write: the article's rule without serialization. */
export class InvalidateFirstStrategy extends UnserializedStrategy {
  readonly name = 'invalidate-first' as const;

  async mutate<R>(ref: KeyRef, plan: MutationPlan<R>, admission: Admission): Promise<R> {
    await invalidateFirst(this.ctx, ref);
    return this.dbMutation(ref, plan, admission);
  }
}

/** DEL, DB write, then a second DEL `doubleDeleteDelayMs` later in the background. */
export class DoubleDeleteStrategy extends UnserializedStrategy {
  readonly name = 'double-delete' as const;

  async mutate<R>(ref: KeyRef, plan: MutationPlan<R>, admission: Admission): Promise<R> {
    await invalidateFirst(this.ctx, ref);
    try {
      return await this.dbMutation(ref, plan, admission);
    } finally {
      this.ctx.track(
        sleep(this.ctx.options.doubleDeleteDelayMs)
          .then(() => this.ctx.cache.del(ref.tag))
          .catch(() => undefined),
      );
    }
  }
}
