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

  /**
   * The latest miss of each key whose lane job started, while misses of that key wait: a miss
   * asked before that job started may take its answer instead of reading again.
   */
  private readonly flights = new Map<string, Flight>();

  readMiss(ref: KeyRef, cacheUsable: boolean, admission: Admission): Promise<string> {
    const askedAt = performance.now();
    let flight = this.flights.get(ref.tag);
    if (!flight) {
      flight = { startedAt: -Infinity, answer: undefined, waiting: 0 };
      this.flights.set(ref.tag, flight);
    }
    const own = flight;
    own.waiting += 1;
    return this.ctx.lanes
      .run(
        ref.lane,
        async (session) => {
          // A miss of this key that began in the lane after this one was asked answers with
          // what the DB (or the guarded cache) held at some moment after that: within this
          // read's own interval. Without it, a process whose lease was busy (another holds it)
          // would read once per queued miss until the holder's fill lands.
          if (own.answer && (own.startedAt > askedAt || this.ctx.options.chaos.shareEarlierReads)) {
            const shared = await own.answer.catch(() => undefined);
            if (shared !== undefined) {
              ref.entity.counters.coalesced += 1;
              return shared;
            }
          }
          own.startedAt = performance.now();
          const answer = (async () => {
            if (!cacheUsable) return loadText(ref, session);
            const cached = await this.recheck(ref);
            if (cached !== undefined) return cached;
            return this.missInLane(session, ref);
          })();
          own.answer = answer;
          return answer;
        },
        admission,
      )
      .finally(() => {
        own.waiting -= 1;
        if (own.waiting === 0 && this.flights.get(ref.tag) === own) this.flights.delete(ref.tag);
      });
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

/** A key's latest miss in its lane, and how many misses of the key are still on their way. */
interface Flight {
  startedAt: number;
  answer: Promise<string> | undefined;
  waiting: number;
}
