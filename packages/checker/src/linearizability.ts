import { describeOperation, formatOffset, formatValue } from './describe.js';
import { InvalidHistoryError } from './errors.js';
import { operationProblem, type Operation } from './operation.js';

/**
 * - `garbage-read`: a read returned a value no operation ever wrote to that key.
 * - `aborted-read`: a read returned the value of a write that failed (so never happened).
 * - `future-read`: a read returned a value whose write began only after the read had ended.
 * - `stale-read`: a read returned a value that had already been replaced: another value's
 *   write (and all reads of it) happened entirely after this value was observed and before
 *   the read began; or a read returned the initial `null` after another value was observed.
 * - `order`: two values were each observed before the other, so no single order of the
 *   writes explains what the readers saw.
 */
export type ViolationKind = 'stale-read' | 'future-read' | 'garbage-read' | 'aborted-read' | 'order';

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
 * Shared Memories", SIAM J. Comput. 26(4), 1997 (see `checkKey`). Throws
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
  return { ok: violations.length === 0, keysChecked: byKey.size, opsChecked: ops.length, violations };
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
  reads: number;
  f: bigint;
  fAt: number;
  s: bigint;
  sAt: number;
}

/**
 * One key. Gibbons & Korach (1997), Section 5 ("VSCread" for one location, read-mapping
 * known), characterize linearizability by zones. For each cluster let f = min completion,
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
function checkKey(key: string, ops: Operation[], indexes: number[], baseNs: bigint, out: Violation[]): void {
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
      c = { value: op.value, write: w, reads: 0, f: complete, fAt: w, s: op.invokeNs, sAt: w };
      clusters.set(op.value, c);
    }
    return c;
  };
  const describe = (i: number): string => describeOperation(ops[i]!, baseNs);
  const report = (kind: ViolationKind, message: string, at: number[]): void => {
    const opIndexes = [...new Set(at.filter((i) => i >= 0))];
    out.push({ key, kind, message: `key ${key}: ${message}`, ops: opIndexes.map((i) => ops[i]!), opIndexes });
  };

  for (const i of indexes) {
    const r = ops[i]!;
    if (r.kind !== 'read' || r.outcome !== 'ok') continue;
    let c: Cluster;
    if (r.value === null) {
      let initial = clusters.get(null);
      if (initial === undefined) {
        initial = { value: null, write: -1, reads: 0, f: negInf, fAt: -1, s: negInf, sAt: -1 };
        clusters.set(null, initial);
      }
      c = initial;
    } else {
      const w = writes.get(r.value);
      if (w === undefined) {
        report('garbage-read', `${describe(i)} returned a value that no operation wrote to this key`, [i]);
        continue;
      }
      const wop = ops[w]!;
      if (wop.outcome === 'fail') {
        report('aborted-read', `${describe(i)} returned the value of a write that failed: ${describe(w)}`, [i, w]);
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
    c.reads++;
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

  // C1 by sweep: with zones sorted by f, some pair overlaps iff some zone starts before the
  // furthest end seen so far. Each zone is reported at most once, against that furthest one.
  let reach: Cluster | undefined;
  for (const z of forward) {
    if (reach !== undefined && z.f < reach.s) reportOverlap(reach, z);
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
    if (container !== undefined && container.s > b.f) reportInside(container, b);
  }

  function what(c: Cluster): string {
    return c.value === null ? 'the initial null' : formatValue(c.value);
  }

  function opsOf(c: Cluster): string {
    return c.reads === 1 ? 'its write and its one read' : `its write and ${c.reads} reads`;
  }

  /** Forward zones a (earlier f) and z overlap: z.f < a.s and a.f <= z.f < z.s. */
  function reportOverlap(a: Cluster, z: Cluster): void {
    if (a.value === null) {
      // Nothing can precede the initial value, so the null read that began late is stale.
      report(
        'stale-read',
        `${describe(a.sAt)} began after ${describe(z.fAt)} had ended, so ${what(z)} had already replaced the initial value`,
        [a.sAt, z.fAt, z.write],
      );
      return;
    }
    report(
      'order',
      `${what(a)} and ${what(z)} were each observed before the other: ` +
        `${describe(a.fAt)} ended before ${describe(z.sAt)} began, ` +
        `and ${describe(z.fAt)} ended before ${describe(a.sAt)} began`,
      [a.fAt, z.sAt, z.fAt, a.sAt, a.write, z.write],
    );
  }

  /** Backward zone b lies within forward zone a: a.f < b.s <= b.f < a.s. */
  function reportInside(a: Cluster, b: Cluster): void {
    const after =
      b.reads === 0
        ? `${describe(b.write)} had ended`
        : `every operation on ${what(b)} (${opsOf(b)}) had ended, the last at ${formatOffset(b.f, baseNs)}`;
    const before =
      a.value === null
        ? 'nothing can come before the initial value'
        : `${what(b)} cannot come first either: ${describe(a.fAt)} ended before ${describe(b.sAt)} began`;
    report(
      'stale-read',
      `${describe(a.sAt)} began after ${after}, yet returned ${what(a)}; ${before}`,
      [a.sAt, b.write, b.fAt, b.sAt, a.fAt],
    );
  }
}

function cmp(a: bigint, b: bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
