import fc from 'fast-check';
import type { Operation, OperationOutcome } from '../../src/index.js';

/**
 * Small concurrent histories for comparing the zone checker with the exhaustive search.
 * Timestamps are small integers so that equal timestamps (touching intervals, zero-length
 * operations) are common: that is where off-by-one mistakes in either checker would hide.
 */

interface RawOp {
  key: string;
  process: string;
  kind: 'read' | 'write';
  inv: number;
  dur: number;
  /** Where the operation takes effect, as a fraction of its interval (simulated histories). */
  at: number;
  /** For unknown writes: how far past the end the effect may land (it may also not land). */
  late: number;
  lands: boolean;
  outcome: OperationOutcome;
  pick: number;
}

const outcomeArb: fc.Arbitrary<OperationOutcome> = fc.oneof(
  { weight: 7, arbitrary: fc.constant<OperationOutcome>('ok') },
  { weight: 2, arbitrary: fc.constant<OperationOutcome>('unknown') },
  { weight: 1, arbitrary: fc.constant<OperationOutcome>('fail') },
);

const rawOpArb = (keys: readonly string[], span: number): fc.Arbitrary<RawOp> =>
  fc.record({
    key: fc.constantFrom(...keys),
    process: fc.constantFrom('p1', 'p2', 'p3', 'p4'),
    kind: fc.constantFrom<'read' | 'write'>('read', 'write'),
    inv: fc.integer({ min: 0, max: span }),
    dur: fc.integer({ min: 0, max: Math.ceil(span / 2) }),
    at: fc.double({ min: 0, max: 1, noNaN: true }),
    late: fc.integer({ min: 0, max: 12 }),
    lands: fc.boolean(),
    outcome: outcomeArb,
    pick: fc.nat(),
  });

function candidates(raw: RawOp[], key: string): (string | null)[] {
  const written = raw.flatMap((r, i) => (r.key === key && r.kind === 'write' ? [`v${i}`] : []));
  return [null, ...written, 'never-written'];
}

function toOp(r: RawOp, value: string | null): Operation {
  return {
    process: r.process,
    key: r.key,
    kind: r.kind,
    value,
    invokeNs: BigInt(r.inv),
    completeNs: BigInt(r.inv + r.dur),
    outcome: r.outcome,
  };
}

/** Reads return anything: mostly not linearizable once there are a few reads. */
function randomHistory(raw: RawOp[]): Operation[] {
  return raw.map((r, i) => {
    if (r.kind === 'write') return toOp(r, `v${i}`);
    const pool = candidates(raw, r.key);
    return toOp(r, pool[r.pick % pool.length]!);
  });
}

/**
 * A real register run: every operation that takes effect does so at one instant inside its
 * interval (unknown writes: at or after their start, or never; failed writes: never), and
 * reads return what the register held at their instant. Linearizable by construction.
 */
function simulatedHistory(raw: RawOp[]): Operation[] {
  const events = raw.map((r, i) => {
    let at: number | null = r.inv + r.at * r.dur;
    if (r.kind === 'write' && r.outcome === 'fail') at = null;
    if (r.kind === 'write' && r.outcome === 'unknown')
      at = r.lands ? r.inv + r.at * (r.dur + r.late) : null;
    return { i, at };
  });
  const order = events.filter((e) => e.at !== null).sort((a, b) => a.at! - b.at! || a.i - b.i);
  const register = new Map<string, string | null>();
  const values: (string | null)[] = raw.map((r, i) => (r.kind === 'write' ? `v${i}` : null));
  for (const { i } of order) {
    const r = raw[i]!;
    if (r.kind === 'write') register.set(r.key, `v${i}`);
    else values[i] = register.get(r.key) ?? null;
  }
  return raw.map((r, i) => {
    if (r.kind === 'read' && r.outcome !== 'ok') {
      const pool = candidates(raw, r.key);
      return toOp(r, pool[r.pick % pool.length]!);
    }
    return toOp(r, values[i]!);
  });
}

/** A real run with one read's answer changed: violations right at the boundary. */
function mutatedHistory(raw: RawOp[], which: number, pick: number): Operation[] {
  const ops = simulatedHistory(raw);
  const reads = ops.flatMap((op, i) => (op.kind === 'read' && op.outcome === 'ok' ? [i] : []));
  if (reads.length === 0) return ops;
  const i = reads[which % reads.length]!;
  const pool = candidates(raw, ops[i]!.key);
  ops[i] = { ...ops[i]!, value: pool[pick % pool.length]! };
  return ops;
}

export type HistoryClass = 'random' | 'simulated' | 'mutated';

export interface GeneratedHistory {
  cls: HistoryClass;
  ops: Operation[];
}

export function historyArb(
  options: { maxOps?: number; keys?: readonly string[] } = {},
): fc.Arbitrary<GeneratedHistory> {
  // Two time scales: a coarse one where most endpoints collide, and a finer one where
  // intervals nest and stagger in more ways.
  const keys = options.keys ?? ['k'];
  const raws = fc
    .constantFrom(6, 24)
    .chain((span) =>
      fc.array(rawOpArb(keys, span), { minLength: 1, maxLength: options.maxOps ?? 9 }),
    );
  return fc.oneof(
    raws.map((raw) => ({ cls: 'random' as const, ops: randomHistory(raw) })),
    raws.map((raw) => ({ cls: 'simulated' as const, ops: simulatedHistory(raw) })),
    fc.tuple(raws, fc.nat(), fc.nat()).map(([raw, which, pick]) => ({
      cls: 'mutated' as const,
      ops: mutatedHistory(raw, which, pick),
    })),
  );
}

/** Larger simulated runs (linearizable by construction), beyond the exhaustive search's reach. */
export function simulatedArb(options: {
  maxOps: number;
  keys: readonly string[];
  span: number;
}): fc.Arbitrary<Operation[]> {
  return fc
    .array(rawOpArb(options.keys, options.span), { minLength: 1, maxLength: options.maxOps })
    .map(simulatedHistory);
}
