import type { Admission } from '../db/lane.js';
import type { Session } from '../db/session.js';
import type { MutationPlan } from '../db/transaction.js';
import type { KeyRef } from '../entity/key-ref.js';
import {
  invalidateFirst,
  loadText,
  plainFill,
  settle,
  sleep,
  transaction,
  type Strategy,
  type StrategyContext,
} from './strategy.js';

/**
 * The article's cure: a key's misses and mutations run in its lane, in arrival order. Correct
 * while one engine owns the key; two engines (a membership change) can still race.
 */
export class SerialStrategy implements Strategy {
  readonly name: 'serial' | 'serial-guarded' = 'serial';

  constructor(protected readonly ctx: StrategyContext) {}

  readMiss(ref: KeyRef, cacheUsable: boolean, admission: Admission): Promise<string> {
    return this.ctx.lanes.run(
      ref.lane,
      async (session) => {
        if (!cacheUsable) return loadText(ref, session);
        const cached = await this.recheck(ref);
        if (cached !== undefined) return cached;
        return this.missInLane(session, ref);
      },
      admission,
    );
  }

  mutate<R>(ref: KeyRef, plan: MutationPlan<R>, admission: Admission): Promise<R> {
    return this.ctx.lanes.run(
      ref.lane,
      async (session) => {
        await invalidateFirst(this.ctx, ref);
        await sleep(this.ctx.options.chaos.writeDelayMs);
        return settle(ref, await transaction(this.ctx, ref, session, plan, null));
      },
      admission,
    );
  }

  /**
   * Inside the lane, an earlier miss of the same key may have filled the cache already:
   * a burst of N misses then costs one DB read. `undefined` means still a miss (or Redis
   * failed, in which case the caller's DB read will not manage to fill either).
   */
  protected async recheck(ref: KeyRef): Promise<string | undefined> {
    try {
      const again = await this.ctx.cache.get(ref.tag);
      if (again === null) return undefined;
      ref.entity.counters.coalesced += 1;
      return again;
    } catch {
      return undefined;
    }
  }

  protected async missInLane(session: Session, ref: KeyRef): Promise<string> {
    const text = await loadText(ref, session);
    await plainFill(this.ctx, ref, text);
    return text;
  }
}
