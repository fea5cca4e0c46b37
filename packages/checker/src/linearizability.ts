import { describeOperation, formatValue } from './describe.js';
import { InvalidHistoryError } from './errors.js';
import { operationProblem, type Operation } from './operation.js';

/**
 * - `garbage-read`: a read returned a value no operation ever wrote to that key.
 * - `aborted-read`: a read returned the value of a write that failed (so never happened).
 * - `future-read`: a read returned a value whose write began only after the read had ended.
 * - `stale-read`: a read returned a value that had already been replaced: an operation on
 *   another value ended before the read began, and that other value cannot have come first
 *   (an operation on the read's value ended before one on the other began). The plainest
 *   case: a read returns the initial `null` after a write ended.
 * - `order`: two values were each observed before the other, so no single order of the
 *   writes explains what the readers saw.
 */
export type ViolationKind =
  'stale-read' | 'future-read' | 'garbage-read' | 'aborted-read' | 'order';

export const VIOLATION_KINDS: readonly ViolationKind[] = [
  'stale-read',
  'future-read',
  'garbage-read',
  'aborted-read',
  'order',
];

export interface Violation {
  key: string;
  kind: ViolationKind;
  /** One paragraph naming the operations and why they cannot be linearized. */
  message: string;
  /** The recorded operations involved (the initial value is not an operation, so never here). */
  ops: Operation[];
  /** Positions of `ops` in the checked history, in the same order. */
  opIndexes: number[];
}

export interface CheckResult {
  /** True when every key's history is linearizable. */
  ok: boolean;
  keysChecked: number;
  opsChecked: number;
  violations: Violation[];
}

/**
 * Checks that each key's history is linearizable as a register whose writes carry unique
 * values, starting from the absent value `null`. Keys are independent: linearizability is
 * local (Herlihy & Wing 1990, Theorem 1), so a history is linearizable iff each key's is.
 *
 * Runs in O(n log n) per key with the read-mapping zone test of Gibbons & Korach, "Testing
 * Shared Memories", SIAM J. Comput. 26(4):1208-1244, 1997 (see `checkKey`). Throws
 * `InvalidHistoryError` for histories outside the model (a duplicate write value, a write of
 * `null`, an operation that completes before it begins).
 */
export function checkHistory(history: Iterable<Operation>): CheckResult {
  const ops = Array.isArray(history) ? (history as Operation[]) : Array.from(history);
  const byKey = new Map<string, number[]>();
  let baseNs: bigint | null = null;
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i]!;
    const problem = operationProblem(op);
    if (problem !== null) throw new InvalidHistoryError(i, problem);
    if (baseNs === null || op.invokeNs < baseNs) baseNs = op.invokeNs;
    let list = byKey.get(op.key);
    if (list === undefined) byKey.set(op.key, (list = []));
    list.push(i);
  }
  const violations: Violation[] = [];
  for (const [key, indexes] of byKey) {
    checkKey(key, ops, indexes, baseNs ?? 0n, violations);
  }
  return {
    ok: violations.length === 0,
    keysChecked: byKey.size,
    opsChecked: ops.length,
    violations,
  };
}

/**
 * A cluster is one value's write together with the reads that returned it. In any
 * linearization of a unique-writes register the cluster is a contiguous block (the write,
 * then its reads, until the next write), which is what makes the problem polynomial.
 *
 * `f` is the earliest completion in the cluster and `s` the latest invocation; `fAt`/`sAt`
 * are the operations (input indexes) they come from, -1 for the virtual initial write.
 */
interface Cluster {
  value: string | null;
  /** Input index of the write; -1 for the initial value. */
  write: number;
  /** Input indexes of the ok reads that returned this value. */
  readsAt: number[];
  f: bigint;
  fAt: number;
  s: bigint;
  sAt: number;
}

/**
 * One key. For one location whose read-mapping is known (each read's write is identified,
 * here by the unique value), Gibbons & Korach (1997) characterize linearizability by zones. For each cluster let f = min completion,
 * s = max invocation. If f < s the cluster has a forward zone (f, s): some operation on the
 * value completed before another one on it began, so the block must span that whole
 * stretch of time. Otherwise (s <= f) every operation of the cluster overlaps every other
 * and its backward zone [s, f] only needs one instant to fit in. The history is
 * linearizable iff
 *   (C0) no read precedes the write it reads from (read.complete < write.invoke),
 *   (C1) no two forward zones overlap, and
 *   (C2) no backward zone lies within a forward zone.
 *
 * Precedence is strict: a precedes b iff a.completeNs < b.invokeNs. Equal timestamps mean
 * the clock could not order the two events, so the operations count as concurrent; zones
 * that merely touch therefore do not overlap, and both C1 and C2 use strict comparisons.
 *
 * Outside the paper's model:
 * - The initial null is a virtual write that completed before every operation (f = -inf,
 *   its invocation too). With null reads its zone (-inf, s) is forward, so by C1/C2 every
 *   other value must have no operation completing before the last null read began; without
 *   null reads its zone is the point -inf, which C2 can never flag, so it is left out.
 * - A failed write did not happen: reading it is `aborted-read`, otherwise it is dropped.
 * - A write whose outcome is unknown may have happened at any time after it began. If no
 *   read returned it, dropping it (or placing it last) changes nothing, so it is dropped.
 *   If some read returned it, it happened, and its completion is +inf (it bounds nothing).
 * - Reads that failed or ended unknown returned nothing and are ignored.
 * Reads flagged garbage/aborted/future are reported and left out of their cluster, so that
 * the zone checks describe the remaining operations rather than repeat the same fault.
 */
function checkKey(
  key: string,
  ops: Operation[],
  indexes: number[],
  baseNs: bigint,
  out: Violation[],
): void {
  const writes = new Map<string, number>();
  let posInf = 0n;
  let negInf = 0n;
  let first = true;
  for (const i of indexes) {
    const op = ops[i]!;
    if (first || op.invokeNs <= negInf) negInf = op.invokeNs - 1n;
    if (first || op.completeNs >= posInf) posInf = op.completeNs + 1n;
    first = false;
    if (op.kind !== 'write') continue;
    const value = op.value!;
    const earlier = writes.get(value);
    if (earlier !== undefined) {
      throw new InvalidHistoryError(
        i,
        `key ${key}: value ${formatValue(value)} is also written by operation #${earlier}; written values must be unique per key`,
      );
    }
    writes.set(value, i);
  }

  const clusters = new Map<string | null, Cluster>();
  const clusterOfWrite = (w: number): Cluster => {
    const op = ops[w]!;
    let c = clusters.get(op.value);
    if (c === undefined) {
      const complete = op.outcome === 'unknown' ? posInf : op.completeNs;
      c = { value: op.value, write: w, readsAt: [], f: complete, fAt: w, s: op.invokeNs, sAt: w };
      clusters.set(op.value, c);
    }
    return c;
  };
  const describe = (i: number): string => describeOperation(ops[i]!, baseNs);
  const report = (kind: ViolationKind, message: string, at: number[]): void => {
    const opIndexes = [...new Set(at.filter((i) => i >= 0))];
    out.push({
      key,
      kind,
      message: `key ${key}: ${message}`,
      ops: opIndexes.map((i) => ops[i]!),
      opIndexes,
    });
  };

  for (const i of indexes) {
    const r = ops[i]!;
    if (r.kind !== 'read' || r.outcome !== 'ok') continue;
    let c: Cluster;
    if (r.value === null) {
      let initial = clusters.get(null);
      if (initial === undefined) {
        initial = { value: null, write: -1, readsAt: [], f: negInf, fAt: -1, s: negInf, sAt: -1 };
        clusters.set(null, initial);
      }
      c = initial;
    } else {
      const w = writes.get(r.value);
      if (w === undefined) {
        report(
          'garbage-read',
          `${describe(i)} returned a value that no operation wrote to this key`,
          [i],
        );
        continue;
      }
      const wop = ops[w]!;
      if (wop.outcome === 'fail') {
        report(
          'aborted-read',
          `${describe(i)} returned the value of a write that failed: ${describe(w)}`,
          [i, w],
        );
        continue;
      }
      // C0: the dictating write must not begin after the read ended.
      if (r.completeNs < wop.invokeNs) {
        report(
          'future-read',
          `${describe(i)} returned a value whose write began only after the read had ended: ${describe(w)}`,
          [i, w],
        );
        continue;
      }
      c = clusterOfWrite(w);
    }
    c.readsAt.push(i);
    if (r.completeNs < c.f) {
      c.f = r.completeNs;
      c.fAt = i;
    }
    if (r.invokeNs > c.s) {
      c.s = r.invokeNs;
      c.sAt = i;
    }
  }
  for (const w of writes.values()) {
    // Acknowledged writes happened whether or not anyone read them; see above for the rest.
    if (ops[w]!.outcome === 'ok') clusterOfWrite(w);
  }

  const forward: Cluster[] = [];
  const backward: Cluster[] = [];
  for (const c of clusters.values()) (c.f < c.s ? forward : backward).push(c);
  forward.sort((a, b) => cmp(a.f, b.f) || cmp(a.s, b.s) || a.write - b.write);

  // A conflict is a pair of values that must each come before the other. One stale read
  // stretches its value's zone over every value written since, so conflicts are blamed on
  // the zone that reaches furthest; `reportStale` then names each read at fault once,
  // rather than every value its zone overlaps.
  interface Blame {
    /** Nested conflict whose value became visible first (least f). */
    stale?: Cluster;
    /** First staggered conflict, and how many more there were. */
    order?: Cluster;
    more: number;
  }
  const blamed = new Map<Cluster, Blame>();
  const conflict = (a: Cluster, other: Cluster, nested: boolean): void => {
    let blame = blamed.get(a);
    if (blame === undefined) blamed.set(a, (blame = { more: 0 }));
    if (nested || a.value === null) {
      if (blame.stale === undefined || other.f < blame.stale.f) blame.stale = other;
    } else if (blame.order === undefined) {
      blame.order = other;
    } else {
      blame.more++;
    }
  };

  // C1 by sweep: with zones sorted by f, some pair overlaps iff some zone starts before the
  // furthest end seen so far; every such zone is paired with that furthest-reaching one.
  let reach: Cluster | undefined;
  for (const z of forward) {
    if (reach !== undefined && z.f < reach.s)
      conflict(reach, z, z.s <= reach.s || writePrecedes(reach, z));
    if (reach === undefined || z.s > reach.s) reach = z;
  }

  // C2: a backward zone [s, f] lies within some forward (f', s') iff among forward zones with
  // f' < s the largest s' exceeds f. Prefix maxima over the sorted zones answer that by binary search.
  const prefixMax: Cluster[] = [];
  for (const z of forward) {
    const prev = prefixMax[prefixMax.length - 1];
    prefixMax.push(prev !== undefined && prev.s >= z.s ? prev : z);
  }
  for (const b of backward) {
    let lo = 0;
    let hi = forward.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (forward[mid]!.f < b.s) lo = mid + 1;
      else hi = mid;
    }
    const container = lo > 0 ? prefixMax[lo - 1]! : undefined;
    if (container !== undefined && container.s > b.f) conflict(container, b, true);
  }

  for (const a of forward) {
    const blame = blamed.get(a);
    if (blame?.stale !== undefined) reportStale(a, blame.stale);
    if (blame?.order !== undefined) reportOrder(a, blame.order, blame.more);
  }

  /**
   * Staggered zones (a.f <= b.f < a.s < b.s) still have a culprit when a's write ended before
   * b's began: a is older, so a's late reads are stale. (The reverse cannot happen here:
   * b's write ending before a's began would give b.f < a.f, as C0 keeps a.f >= a's invocation.)
   */
  function writePrecedes(a: Cluster, b: Cluster): boolean {
    if (a.write < 0) return true;
    if (b.write < 0) return false;
    const wa = ops[a.write]!;
    return wa.outcome === 'ok' && wa.completeNs < ops[b.write]!.invokeNs;
  }

  function what(c: Cluster): string {
    return c.value === null ? 'the initial null' : formatValue(c.value);
  }

  /**
   * b's zone lies inside a's, or a's write (or the initial value) ended before b's began:
   * a.f < b.s and b.f < a.s. An operation on a ended before one on b began, so a comes
   * first; then every read of a that began after an operation on b had ended (at b.f)
   * returned a value already replaced. a's last read is always one of them.
   */
  function reportStale(a: Cluster, b: Cluster): void {
    const before =
      a.value === null
        ? 'nothing can come before the initial value'
        : `${what(b)} cannot come first either: ${describe(a.fAt)} ended before ${describe(b.sAt)} began`;
    // a.sAt qualifies by the conflict's definition (b.f < a.s); reporting it even when the
    // filter below finds nothing keeps the verdict from hinging on this message-building loop.
    const late = a.readsAt.filter((r) => ops[r]!.invokeNs > b.f);
    for (const r of late.length > 0 ? late : [a.sAt]) {
      report(
        'stale-read',
        `${describe(r)} began after ${describe(b.fAt)} had ended, yet returned ${what(a)}; ${before}`,
        [r, b.fAt, b.write, b.sAt, a.fAt],
      );
    }
  }

  /**
   * Staggered forward zones, a.f <= b.f < a.s < b.s, with concurrent writes: each value was
   * seen before the other, and no single read is more to blame than another.
   */
  function reportOrder(a: Cluster, b: Cluster, more: number): void {
    const tail =
      more === 0
        ? ''
        : ` (${more} more value${more === 1 ? '' : 's'} conflict with ${what(a)} the same way)`;
    report(
      'order',
      `${what(a)} and ${what(b)} were each observed before the other: ` +
        `${describe(a.fAt)} ended before ${describe(b.sAt)} began, ` +
        `and ${describe(b.fAt)} ended before ${describe(a.sAt)} began${tail}`,
      [a.fAt, b.sAt, b.fAt, a.sAt, a.write, b.write],
    );
  }
}

function cmp(a: bigint, b: bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
