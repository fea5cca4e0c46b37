import type { Item } from '@keylane/protocol';
import type { Queryable } from '../store/item-store.js';
import { newToken } from '../cache/cache.js';
import { LeaseCode } from '../cache/scripts.js';
import { SerialStrategy } from './serial.js';
import { WriteExpiredError } from '../errors.js';
import { dbRead, notAttempted, runMutation, sleep, type Mutation, type MutationOutcome } from './strategy.js';

/**
 * Serial plus the Redis guard (README "Guard protocol"): misses fill only under a lease
 * that no write has disturbed, writes run under a marker whose deadline the DB statement
 * itself enforces. The cache then stays absent-or-equal to the DB even when two engines
 * handle one key at once; the lanes make that cheap (no lease contention, one DB read per
 * burst of misses).
 */
export class SerialGuardedStrategy extends SerialStrategy {
  override readonly name = 'serial-guarded' as const;

  protected override async missInLane(client: Queryable, id: bigint): Promise<Item | null> {
    const { counters } = this.ctx;
    let lease: { code: LeaseCode; token: string };
    try {
      lease = await this.ctx.cache.lease(id);
    } catch {
      return dbRead(this.ctx, client, id);
    }
    switch (lease.code) {
      case LeaseCode.WriteInProgress:
        counters.leases.writeInProgress += 1;
        return dbRead(this.ctx, client, id);
      case LeaseCode.Busy:
        // Another engine holds the lease (in one engine the lane already serializes misses).
        // Reading the DB without filling answers now instead of waiting on a peer that may
        // be stalled; the holder's fill serves the next reads.
        counters.leases.busy += 1;
        return dbRead(this.ctx, client, id);
      case LeaseCode.Granted:
        break;
    }
    counters.leases.granted += 1;
    const item = await dbRead(this.ctx, client, id);
    await sleep(this.ctx.options.chaos.fillDelayMs);
    try {
      if (await this.ctx.cache.fill(id, lease.token, item)) counters.fills += 1;
      else counters.fillsRejected += 1;
    } catch {
      // Redis failed the fill: the lease expires on its own, the reader has its answer.
    }
    return item;
  }

  /**
   * Reads that missed while a write of their key waits or runs in this engine's lane register
   * with that write (the key's latest) and are answered with its committed row when its end
   * script fills it. A write leaves the map when its end script is sent: registration closes.
   */
  private readonly pendingWrites = new Map<bigint, Waiter[]>();

  override async readMiss(id: bigint, cacheUsable: boolean): Promise<Item | null> {
    const waiters = cacheUsable ? this.pendingWrites.get(id) : undefined;
    if (waiters) {
      // The write's row is answered only if its end script filled it: then no other write
      // overlapped it, so at that instant (after this read began, since registration closes
      // before the script is sent) the row was the DB's latest. Otherwise: the lane, as usual.
      const row = await new Promise<Item | null | undefined>((resolve) => waiters.push(resolve));
      if (row !== undefined) {
        this.ctx.counters.coalesced += 1;
        return row;
      }
    }
    return super.readMiss(id, cacheUsable);
  }

  override async mutate<T>(id: bigint, mutation: Mutation<T>): Promise<T> {
    const waiters: Waiter[] = [];
    this.pendingWrites.set(id, waiters);
    // A later write of the key may have replaced this one in the map; it stays there.
    const closeRegistration = (): void => {
      if (this.pendingWrites.get(id) === waiters) this.pendingWrites.delete(id);
    };
    let answer: Item | null | undefined;
    try {
      const { result, ended } = await this.ctx.lanes.run(id, (client) =>
        this.writeInLane(client, id, mutation, closeRegistration),
      );
      const filled = await ended;
      if (filled) {
        this.ctx.counters.writeFills += 1;
        if (result.ok) answer = result.value.row;
      }
      if (result.ok) return result.value.result;
      if (result.error instanceof WriteExpiredError) this.ctx.counters.writesExpired += 1;
      throw result.error;
    } finally {
      closeRegistration();
      for (const resolve of waiters.splice(0)) resolve(answer);
    }
  }

  /**
   * Marker, DB write under its deadline, end. The lane moves on once the end script is sent,
   * not answered: the next job's commands follow it on the same Redis connection, and an end
   * that ran late could only delete (it fills only while this writer is still the solo writer).
   */
  private async writeInLane<T>(
    client: Queryable,
    id: bigint,
    mutation: Mutation<T>,
    closeRegistration: () => void,
  ): Promise<{ result: MutationOutcome<T>; ended: Promise<boolean> }> {
    const { options } = this.ctx;
    const token = newToken();
    let redisNow: number;
    try {
      redisNow = await this.ctx.cache.beginWrite(id, token);
    } catch (err) {
      // No marker, no DB write: a write must never commit without its invalidation.
      throw notAttempted(err);
    }
    const deadlineMs = redisNow + options.markerTtlMs - options.markerMarginMs;
    await sleep(options.chaos.writeDelayMs);
    const result = await runMutation(this.ctx, client, mutation, deadlineMs);
    // An unknown outcome keeps the marker: the statement may still commit until its
    // deadline, and the marker must outlive that. It expires on its own.
    const removeMarker = result.ok || result.outcomeKnown;
    closeRegistration();
    // A committed row goes into the cache at the end (when no other write overlapped), so
    // the reads after this write hit instead of reading the DB. A failed end is harmless:
    // the marker expires by itself; until then misses read the DB without filling.
    const ended = this.ctx.cache
      .endWrite(id, token, removeMarker, result.ok ? result.value.row : undefined)
      .catch(() => false);
    return { result, ended };
  }
}

/** A read waiting for a write's committed row; `undefined` sends it to the lane instead. */
type Waiter = (row: Item | null | undefined) => void;
