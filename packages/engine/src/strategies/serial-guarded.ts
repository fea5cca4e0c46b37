import { newToken, type Watermark } from '../cache/cache.js';
import { LeaseCode } from '../cache/scripts.js';
import { channels, traceCall, type LeaseContext } from '../diagnostics.js';
import type { Admission } from '../db/lane.js';
import { CURRENT_LSN_SQL } from '../db/lsn.js';
import type { ReplicaSet } from '../db/replicas.js';
import type { Session } from '../db/session.js';
import { RERUN, type Fence, type MarkerGate, type MutationPlan, type TransactionOutcome } from '../db/transaction.js';
import type { KeyRef } from '../entity/key-ref.js';
import { MarkerNotReplicatedError } from '../errors.js';
import { SerialStrategy } from './serial.js';
import { fillContext, loadText, notAttempted, settle, sleep, transactionGroup } from './strategy.js';

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
    const { replicas } = this.ctx;
    let lease: { code: LeaseCode; token: string; watermark?: Watermark };
    try {
      if (channels.lease.hasSubscribers) {
        const context: LeaseContext = { engine: this.ctx.engine, entity: ref.entity.name, key: ref.text };
        lease = (await traceCall(channels.lease, context, async () => {
          const answer = await cache.lease(ref.tag, replicas !== undefined);
          context.outcome = LEASE_OUTCOMES[answer.code];
          return answer;
        })) as { code: LeaseCode; token: string; watermark?: Watermark };
      } else {
        lease = await cache.lease(ref.tag, replicas !== undefined);
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
    const { text, settleLsn } = replicas ? await this.loadForFill(session, ref, replicas, lease.watermark) : { text: await loadText(ref, session) };
    await sleep(options.chaos.fillDelayMs);
    try {
      if (!cache.fillsAllowed) counters.fillsHeld += 1;
      else if (await this.fill(ref, lease.token, text, settleLsn)) counters.fills += 1;
      else counters.fillsRejected += 1;
    } catch {
      // Redis failed the fill: the lease expires on its own, the reader has its answer.
    }
    return text;
  }

  /**
   * A granted miss with replicas: a replica that has replayed what the key needs, else the
   * primary. A key in doubt (a write whose commit LSN is unknown) reads the primary and then
   * its current LSN, which the fill records as the key's watermark (README "Replica reads").
   */
  private async loadForFill(
    session: Session,
    ref: KeyRef,
    replicas: ReplicaSet,
    watermark: Watermark | undefined,
  ): Promise<{ text: string; settleLsn?: string }> {
    const stats = ref.entity.counters.replicaReads;
    const need = replicas.naive ? { lsn: '' } : replicas.need(watermark);
    if ('lsn' in need) {
      const read = await replicas.read(ref.lane, need.lsn, (replica) => loadText(ref, replica));
      if ('text' in read) {
        stats.served += 1;
        return { text: read.text };
      }
      stats[read.route] += 1;
      return { text: await loadText(ref, session) };
    }
    stats[need.route] += 1;
    const text = await loadText(ref, session);
    if (need.route !== 'unsettled') return { text };
    // Read after the primary answered a key in doubt: at or past every commit before the lease.
    const { rows } = await session.query<{ lsn: string }>(CURRENT_LSN_SQL);
    return { text, settleLsn: rows[0]?.lsn ?? '' };
  }

  private fill(ref: KeyRef, token: string, text: string, settleLsn: string | undefined): Promise<boolean> {
    const { cache } = this.ctx;
    if (!channels.fill.hasSubscribers) return cache.fill(ref.tag, token, text, ref.entity.ttlMs, settleLsn);
    const context = fillContext(this.ctx, ref);
    return traceCall(channels.fill, context, async () => {
      const filled = await cache.fill(ref.tag, token, text, ref.entity.ttlMs, settleLsn);
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

  /**
   * Mutations whose lane job has not started yet, by key, in arrival order: the job of the
   * first to start takes the others (groupCommit) into its transaction.
   */
  private readonly queuedWrites = new Map<string, Member[]>();

  override async mutate<R>(ref: KeyRef, plan: MutationPlan<R>, admission: Admission): Promise<R> {
    const waiters: Waiter[] = [];
    this.pendingWrites.set(ref.tag, waiters);
    // A later mutation of the key may have replaced this one in the map; it stays there.
    const closeRegistration = (): void => {
      if (this.pendingWrites.get(ref.tag) === waiters) this.pendingWrites.delete(ref.tag);
    };
    const member = newMember(plan, admission, closeRegistration);
    let answer: string | undefined;
    try {
      const queued = this.queuedWrites.get(ref.tag);
      if (queued) queued.push(member);
      else this.queuedWrites.set(ref.tag, [member]);
      const signal = admission.signal ? AbortSignal.any([admission.signal, member.withdraw.signal]) : member.withdraw.signal;
      // Every member, the one whose job runs the group too, hears its answer through `done`,
      // settled in the group's order: answers leave in the order the writes were applied.
      this.ctx.lanes
        .run(ref.lane, (session) => this.groupInLane(session, ref, member), { deadline: admission.deadline, signal })
        .catch((err: unknown) => {
          // Refused or left the queue before it ran. (Withdrawn because another member's job
          // took it: its answer comes from there.)
          if (member.state !== 'queued') return;
          this.unqueue(ref.tag, member);
          member.fail(err);
        });
      const { outcome, ended, fill } = await member.done;
      const filled = await ended;
      if (filled) {
        if (member.leader) ref.entity.counters.writeFills += 1;
        answer = fill;
      }
      return settle(ref, outcome as TransactionOutcome<R>);
    } finally {
      closeRegistration();
      for (const resolve of waiters.splice(0)) resolve(answer);
    }
  }

  private unqueue(tag: string, member: Member): void {
    const queued = this.queuedWrites.get(tag);
    if (!queued) return;
    const at = queued.indexOf(member);
    if (at >= 0) queued.splice(at, 1);
    if (queued.length === 0) this.queuedWrites.delete(tag);
  }

  /**
   * The job of a mutation that reached the front of its lane: with groupCommit, it takes the
   * key's other queued mutations whose deadlines are no earlier than its own (theirs then
   * leave the lane's queue), and runs them all under one marker. Every member's `done` is
   * settled before the job ends.
   */
  private async groupInLane(session: Session, ref: KeyRef, leader: Member): Promise<void> {
    this.unqueue(ref.tag, leader);
    leader.state = 'running';
    leader.leader = true;
    const group = [leader];
    try {
      const { outcomes, ended, fill } = await this.writeInLane(session, ref, group);
      for (const [i, member] of group.entries()) member.settle({ outcome: outcomes[i]!, ended, fill });
    } catch (err) {
      // Nothing was attempted (the marker could not be put up): every member hears why.
      for (const member of group) member.fail(err);
    }
  }

  /**
   * With groupCommit, adds to `group` the key's queued mutations whose deadlines are no
   * earlier than its leader's (their own lane jobs then leave the queue). Called once the
   * marker is up, right before the transaction: a mutation stays free to leave the queue
   * (its caller gone, its deadline near) until then, and those that arrived meanwhile join.
   */
  private takeQueued(ref: KeyRef, group: Member[]): void {
    const leader = group[0]!;
    const queued = this.queuedWrites.get(ref.tag);
    if (!ref.entity.groupCommit || !queued) return;
    const now = Date.now();
    for (const member of [...queued]) {
      if (group.length >= MAX_GROUP) break;
      if (!joins(member, leader, now)) continue;
      this.unqueue(ref.tag, member);
      member.state = 'taken';
      member.withdraw.abort(TAKEN);
      group.push(member);
    }
    ref.entity.counters.groupedMutations += group.length - 1;
    // Earliest deadline first after the leader: a member run again (see writeInLane) is
    // fenced by the deadline of the first one left, which is then no later than its own.
    // Any order is a valid one: every member was waiting when the transaction began.
    const due = (m: Member): number => m.admission.deadline ?? Number.MAX_VALUE;
    group.sort((a, b) => (a === leader ? -1 : b === leader ? 1 : due(a) - due(b)));
  }

  /**
   * Marker, the transaction(s) under its deadline, end. The lane moves on once the end script
   * is sent, not answered: the next job's commands follow it on the same Redis connection, and
   * an end that ran late could only delete (it fills only while this writer is the solo writer).
   * A group whose first member's own deadline ended its transaction runs the rest again under
   * the same marker, with the next member's deadline (nothing of theirs committed).
   */
  private async writeInLane(
    session: Session,
    ref: KeyRef,
    group: Member[],
  ): Promise<{ outcomes: TransactionOutcome<unknown>[]; ended: Promise<boolean>; fill: string | undefined }> {
    const { cache, options } = this.ctx;
    const token = newToken();
    // The begin script goes out with BEGIN rather than before it: the marker only has to be
    // up before COMMIT (until then nothing of the write is visible, and a fill whose lease
    // predates the marker is refused by it). The transaction waits for it there; a marker
    // that failed rolls everything back, nothing committed.
    const marker = new PendingMarker(
      cache.beginWrite(ref.tag, token).catch((err: unknown) => {
        // No marker, no commit: a write must never commit without its invalidation.
        throw err instanceof MarkerNotReplicatedError ? err : notAttempted(err);
      }),
      options.markerTtlMs - options.markerMarginMs,
    );
    if (options.chaos.writeDelayMs > 0) {
      // The race window the demo widens: marker up, transaction not begun.
      await marker.ready();
      await sleep(options.chaos.writeDelayMs);
    }
    this.takeQueued(ref, group);
    const outcomes = new Map<Member, TransactionOutcome<unknown>>();
    let remaining = group;
    while (remaining.length > 0) {
      const fence = marker.fence(remaining[0]!.admission.deadline);
      const results = await transactionGroup(this.ctx, ref, session, remaining.map((m) => m.plan), fence, marker);
      // Nothing ran or committed: the members hear why (and no end script runs).
      const failed = marker.failure();
      if (failed !== undefined) throw failed;
      const rerun: Member[] = [];
      for (const [i, result] of results.entries()) {
        if (result === RERUN) rerun.push(remaining[i]!);
        else outcomes.set(remaining[i]!, result);
      }
      remaining = rerun;
    }
    const all = group.map((m) => outcomes.get(m)!);
    // An unknown outcome keeps the marker: the COMMIT may still land until its deadline, and
    // the marker must outlive that. It expires on its own.
    const removeMarker = all.every((o) => o.ok || o.committed === 'no');
    for (const member of group) member.closeRegistration();
    // The committed value goes into the cache at the end (when no other write overlapped), so
    // the reads after this write hit instead of reading the DB: the last member that committed
    // left it (the others' values were never visible on their own). A failed end is harmless:
    // the marker expires by itself; until then misses read the DB without filling.
    const last = all.findLast((o): o is Extract<TransactionOutcome<unknown>, { ok: true }> => o.ok);
    const fill = last && cache.fillsAllowed ? last.fill : undefined;
    const ended = cache.endWrite(ref.tag, token, removeMarker, fill, ref.entity.ttlMs, last?.lsn).catch(() => {
      // The marker covers the write until it expires; if Redis lost it, the reconnect deletes
      // what a reader may have filled meanwhile.
      cache.endFailed(ref.tag);
      return false;
    });
    return { outcomes: all, ended, fill };
  }
}

/**
 * A write marker on its way to Redis, and the commit deadline it sets. Until the begin script
 * answers, the deadline is estimated from when it was sent (a marker's life from then is no
 * longer than from Redis' own moment of running it): earlier than the real one, never later.
 * Once it answered, the deadline is the marker's on Redis' clock, or the caller's carried over
 * to that clock by the offset seen at the answer.
 */
class PendingMarker implements MarkerGate {
  /** Redis' clock when the begin script ran, and when its answer came (monotonic and epoch ms here). */
  answer: { redisNow: number; at: number; local: number } | undefined;
  readonly sent = { at: performance.now(), local: Date.now() };
  #failure: Error | undefined;
  readonly #up: Promise<void>;

  constructor(
    begin: Promise<number>,
    /** markerTtlMs minus the margin. */
    readonly lifeMs: number,
  ) {
    this.#up = begin.then(
      (redisNow) => {
        this.answer = { redisNow, at: performance.now(), local: Date.now() };
      },
      (err: unknown) => {
        // Always one of ours: notAttempted() or MarkerNotReplicatedError (see writeInLane).
        this.#failure = err as Error;
        throw err;
      },
    );
    this.#up.catch(() => undefined);
  }

  failure(): Error | undefined {
    return this.#failure;
  }

  ready(): Promise<void> {
    return this.#up;
  }

  /** The fence for a transaction fenced by `deadline` (the caller's, epoch ms here) and the marker. */
  fence(deadline: number | undefined): Fence {
    return markerFence(this, deadline);
  }
}

function markerFence(marker: PendingMarker, deadline: number | undefined): Fence {
  const left = (local: number): number => Math.min(marker.lifeMs, deadline === undefined ? Infinity : deadline - local);
  return {
    get deadlineMs(): number {
      const { answer } = marker;
      if (!answer) throw new Error('unreachable: the commit deadline was read before the marker was up');
      return answer.redisNow + Math.floor(left(answer.local));
    },
    get binding(): 'caller' | 'marker' {
      const local = marker.answer?.local ?? marker.sent.local;
      return deadline !== undefined && deadline - local < marker.lifeMs ? 'caller' : 'marker';
    },
    remainingMs(): number {
      const from = marker.answer ?? marker.sent;
      return left(from.local) - (performance.now() - from.at);
    },
  };
}

/** Most mutations one transaction takes: each holds a subtransaction, and Postgres tracks 64 per backend before it spills. */
const MAX_GROUP = 32;

/** Why a member's own lane job left the queue: another member's job took it. */
const TAKEN = new Error('taken into another mutation\'s group');

/** A mutation on its way through the lane, alone or in a group. */
interface Member {
  readonly plan: MutationPlan<unknown>;
  readonly admission: Admission;
  readonly closeRegistration: () => void;
  /** Aborted when another member's job takes this one: its own lane job then leaves the queue. */
  readonly withdraw: AbortController;
  state: 'queued' | 'running' | 'taken';
  /** The member whose lane job ran the group (it counts the group's fill). */
  leader: boolean;
  readonly done: Promise<{ outcome: TransactionOutcome<unknown>; ended: Promise<boolean>; fill: string | undefined }>;
  settle(result: { outcome: TransactionOutcome<unknown>; ended: Promise<boolean>; fill: string | undefined }): void;
  fail(err: unknown): void;
}

function newMember(plan: MutationPlan<unknown>, admission: Admission, closeRegistration: () => void): Member {
  let settle!: Member['settle'];
  let fail!: Member['fail'];
  const done = new Promise<Awaited<Member['done']>>((resolve, reject) => {
    settle = resolve;
    fail = reject;
  });
  // Rejected only for members whose mutate() waits on it; never left unhandled.
  done.catch(() => undefined);
  return { plan, admission, closeRegistration, withdraw: new AbortController(), state: 'queued', leader: false, done, settle, fail };
}

/**
 * Whether `member` may join `leader`'s transaction: still wanted, and its caller's deadline no
 * earlier than the leader's (the fence uses the leader's: a later one is met too).
 */
function joins(member: Member, leader: Member, now: number): boolean {
  if (member.state !== 'queued' || member.admission.signal?.aborted) return false;
  const own = member.admission.deadline;
  const lead = leader.admission.deadline;
  if (own !== undefined && own <= now) return false;
  if (lead === undefined) return own === undefined;
  return own === undefined || own >= lead;
}

/** A read waiting for a mutation's committed value; `undefined` sends it to the lane instead. */
type Waiter = (text: string | undefined) => void;
