import { newToken } from '../cache/cache.js';
import { LeaseCode } from '../cache/scripts.js';
import { channels, traceCall, type LeaseContext } from '../diagnostics.js';
import type { Admission } from '../db/lane.js';
import type { Session } from '../db/session.js';
import type { Fence, MutationPlan, TransactionOutcome } from '../db/transaction.js';
import type { KeyRef } from '../entity/key-ref.js';
import { MarkerNotReplicatedError } from '../errors.js';
import { SerialStrategy } from './serial.js';
import { fillContext, loadText, notAttempted, settle, sleep, transaction } from './strategy.js';

const LEASE_OUTCOMES: Record<LeaseCode, NonNullable<LeaseContext['outcome']>> = {
  [LeaseCode.Granted]: 'granted',
  [LeaseCode.WriteInProgress]: 'write_in_progress',
  [LeaseCode.Busy]: 'busy',
};

/**
 * Serial plus the Redis guard (README "The guard"): misses fill only under a lease that no
 * write has disturbed, mutations run under a marker whose deadline Postgres enforces at
 * COMMIT. The cache then stays absent-or-equal to the DB even when two engines handle one key
 * at once; the lanes make that cheap (no lease contention, one DB read per burst of misses).
 */
export class SerialGuardedStrategy extends SerialStrategy {
  override readonly name = 'serial-guarded' as const;

  protected override async missInLane(session: Session, ref: KeyRef): Promise<string> {
    const { cache, options } = this.ctx;
    const { counters } = ref.entity;
    if (!cache.fillsAllowed) {
      // Redis is back as another server, or not yet known to be the same one: a write in
      // flight may have lost its marker. Answer from the DB without filling.
      counters.fillsHeld += 1;
      return loadText(ref, session);
    }
    let lease: { code: LeaseCode; token: string };
    try {
      if (channels.lease.hasSubscribers) {
        const context: LeaseContext = { engine: this.ctx.engine, entity: ref.entity.name, key: ref.text };
        lease = (await traceCall(channels.lease, context, async () => {
          const answer = await cache.lease(ref.tag);
          context.outcome = LEASE_OUTCOMES[answer.code];
          return answer;
        })) as { code: LeaseCode; token: string };
      } else {
        lease = await cache.lease(ref.tag);
      }
    } catch {
      return loadText(ref, session);
    }
    switch (lease.code) {
      case LeaseCode.WriteInProgress:
        counters.leases.writeInProgress += 1;
        return loadText(ref, session);
      case LeaseCode.Busy:
        // Another engine holds the lease (in one engine the lane already serializes misses).
        // Reading the DB without filling answers now instead of waiting on a peer that may
        // be stalled; the holder's fill serves the next reads.
        counters.leases.busy += 1;
        return loadText(ref, session);
      case LeaseCode.Granted:
        break;
    }
    counters.leases.granted += 1;
    const text = await loadText(ref, session);
    await sleep(options.chaos.fillDelayMs);
    try {
      if (!cache.fillsAllowed) counters.fillsHeld += 1;
      else if (await this.fill(ref, lease.token, text)) counters.fills += 1;
      else counters.fillsRejected += 1;
    } catch {
      // Redis failed the fill: the lease expires on its own, the reader has its answer.
    }
    return text;
  }

  private fill(ref: KeyRef, token: string, text: string): Promise<boolean> {
    const { cache } = this.ctx;
    if (!channels.fill.hasSubscribers) return cache.fill(ref.tag, token, text, ref.entity.ttlMs);
    const context = fillContext(this.ctx, ref);
    return traceCall(channels.fill, context, async () => {
      const filled = await cache.fill(ref.tag, token, text, ref.entity.ttlMs);
      context.outcome = filled ? 'stored' : 'rejected';
      return filled;
    }) as Promise<boolean>;
  }

  /**
   * Reads that missed while a mutation of their key waits or runs in this engine's lane
   * register with it (the key's latest) and are answered with its committed value when its end
   * script fills it. A mutation leaves the map when its end script is sent: registration closes.
   */
  private readonly pendingWrites = new Map<string, Waiter[]>();

  override async readMiss(ref: KeyRef, cacheUsable: boolean, admission: Admission): Promise<string> {
    const waiters = cacheUsable ? this.pendingWrites.get(ref.tag) : undefined;
    if (waiters) {
      // The value is answered only if the end script filled it: then no other write
      // overlapped it, so at that instant (after this read began, since registration closes
      // before the script is sent) it was the DB's latest. Otherwise: the lane, as usual.
      const text = await new Promise<string | undefined>((resolve) => waiters.push(resolve));
      if (text !== undefined) {
        ref.entity.counters.coalesced += 1;
        return text;
      }
    }
    return super.readMiss(ref, cacheUsable, admission);
  }

  override async mutate<R>(ref: KeyRef, plan: MutationPlan<R>, admission: Admission): Promise<R> {
    const waiters: Waiter[] = [];
    this.pendingWrites.set(ref.tag, waiters);
    // A later mutation of the key may have replaced this one in the map; it stays there.
    const closeRegistration = (): void => {
      if (this.pendingWrites.get(ref.tag) === waiters) this.pendingWrites.delete(ref.tag);
    };
    let answer: string | undefined;
    try {
      const { outcome, ended } = await this.ctx.lanes.run(
        ref.lane,
        (session) => this.writeInLane(session, ref, plan, admission.deadline, closeRegistration),
        admission,
      );
      const filled = await ended;
      if (filled) {
        ref.entity.counters.writeFills += 1;
        if (outcome.ok) answer = outcome.fill;
      }
      return settle(ref, outcome);
    } finally {
      closeRegistration();
      for (const resolve of waiters.splice(0)) resolve(answer);
    }
  }

  /**
   * Marker, the transaction under its deadline, end. The lane moves on once the end script is
   * sent, not answered: the next job's commands follow it on the same Redis connection, and an
   * end that ran late could only delete (it fills only while this writer is the solo writer).
   */
  private async writeInLane<R>(
    session: Session,
    ref: KeyRef,
    plan: MutationPlan<R>,
    deadline: number | undefined,
    closeRegistration: () => void,
  ): Promise<{ outcome: TransactionOutcome<R>; ended: Promise<boolean> }> {
    const { cache, options } = this.ctx;
    const token = newToken();
    let redisNow: number;
    try {
      redisNow = await cache.beginWrite(ref.tag, token);
    } catch (err) {
      // No marker, no transaction: a write must never commit without its invalidation.
      if (err instanceof MarkerNotReplicatedError) throw err;
      throw notAttempted(err);
    }
    const began = performance.now();
    // The marker's deadline, or the caller's if earlier (carried over from this process's
    // clock to Redis' by the offset seen now).
    const markerDeadline = redisNow + options.markerTtlMs - options.markerMarginMs;
    const callerDeadline = deadline === undefined ? Infinity : redisNow + Math.floor(deadline - Date.now());
    const binding = callerDeadline < markerDeadline ? 'caller' : 'marker';
    const deadlineMs = Math.min(markerDeadline, callerDeadline);
    const span = deadlineMs - redisNow;
    const fence: Fence = { deadlineMs, binding, remainingMs: () => span - (performance.now() - began) };
    await sleep(options.chaos.writeDelayMs);
    const outcome = await transaction(this.ctx, ref, session, plan, fence);
    // An unknown outcome keeps the marker: the COMMIT may still land until its deadline, and
    // the marker must outlive that. It expires on its own.
    const removeMarker = outcome.ok || outcome.committed === 'no';
    closeRegistration();
    // A committed value goes into the cache at the end (when no other write overlapped), so
    // the reads after this write hit instead of reading the DB. A failed end is harmless:
    // the marker expires by itself; until then misses read the DB without filling.
    const fill = outcome.ok && cache.fillsAllowed ? outcome.fill : undefined;
    const ended = cache.endWrite(ref.tag, token, removeMarker, fill, ref.entity.ttlMs).catch(() => {
      // The marker covers the write until it expires; if Redis lost it, the reconnect deletes
      // what a reader may have filled meanwhile.
      cache.endFailed(ref.tag);
      return false;
    });
    return { outcome, ended };
  }
}

/** A read waiting for a mutation's committed value; `undefined` sends it to the lane instead. */
type Waiter = (text: string | undefined) => void;
