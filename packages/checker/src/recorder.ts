import { RecorderMisuseError } from './errors.js';
import { toJsonl } from './jsonl.js';
import type { Operation, OperationOutcome } from './operation.js';

export interface HistoryRecorderOptions {
  /**
   * The one clock every timestamp comes from. Tests may pass a fake; anything else should
   * keep the default, since intervals are only comparable when they share a clock.
   * @default process.hrtime.bigint
   */
  clock?: () => bigint;
}

/** A read in flight. Complete it exactly once. */
export interface PendingRead {
  /** The read returned `value` (`null`: nothing there). */
  ok(value: string | null): Operation;
  /** The read returned nothing usable; it is ignored by the checker. */
  fail(): Operation;
  unknown(): Operation;
}

/** A write in flight. Complete it exactly once. */
export interface PendingWrite {
  /** The write was acknowledged. */
  ok(): Operation;
  /** The write definitely did not happen (the service refused it before any effect). */
  fail(): Operation;
  /** The write may or may not have happened (timeout, reset mid-request). */
  unknown(): Operation;
}

/**
 * Records operations as callers run them, stamping invocation in `begin` and completion in
 * `ok`/`fail`/`unknown` from one clock. Operations are stored in completion order.
 *
 * ```ts
 * const rec = new HistoryRecorder();
 * const w = rec.begin('caller-1', '42', 'write', 'v1');
 * try { await client.put(42n, 'v1'); w.ok(); } catch { w.unknown(); }
 * const r = rec.begin('caller-2', '42', 'read');
 * const item = await client.get(42n);
 * r.ok(item === null ? null : String(item.value));
 * ```
 */
export class HistoryRecorder {
  readonly #clock: () => bigint;
  readonly #completed: Operation[] = [];
  readonly #pending = new Set<PendingOperation>();
  /** Values written per key: a repeat would make the history uncheckable, so it fails here. */
  readonly #written = new Map<string, Set<string>>();

  constructor(options: HistoryRecorderOptions = {}) {
    const clock = options.clock ?? (() => process.hrtime.bigint());
    if (typeof clock !== 'function')
      throw new TypeError('options.clock must be a function returning a bigint');
    this.#clock = clock;
  }

  begin(process: string, key: string, kind: 'read'): PendingRead;
  begin(process: string, key: string, kind: 'write', value: string): PendingWrite;
  begin(
    process: string,
    key: string,
    kind: 'read' | 'write',
    value?: string,
  ): PendingRead | PendingWrite {
    if (typeof process !== 'string' || process === '')
      throw new TypeError('process must be a non-empty string');
    if (typeof key !== 'string' || key === '')
      throw new TypeError('key must be a non-empty string');
    if (kind !== 'read' && kind !== 'write')
      throw new TypeError(`kind must be "read" or "write", got ${String(kind)}`);
    if (kind === 'write' && typeof value !== 'string') {
      throw new TypeError(
        'value must be a string for a write (unique per key; null is reserved for absence)',
      );
    }
    if (kind === 'write') {
      let values = this.#written.get(key);
      if (values === undefined) this.#written.set(key, (values = new Set()));
      if (values.has(value!)) {
        throw new RecorderMisuseError(
          `value ${JSON.stringify(value)} was already written to key ${key}: written values must be unique per key`,
        );
      }
      values.add(value!);
    }
    const op = new PendingOperation(
      this.#finish,
      process,
      key,
      kind,
      kind === 'write' ? value! : null,
      this.#clock(),
    );
    this.#pending.add(op);
    return op;
  }

  readonly #finish = (
    op: PendingOperation,
    outcome: OperationOutcome,
    value: string | null,
  ): Operation => {
    if (!this.#pending.delete(op)) {
      throw new RecorderMisuseError(
        `${op.kind} of key ${op.key} by ${op.process} was already completed`,
      );
    }
    const done: Operation = {
      process: op.process,
      key: op.key,
      kind: op.kind,
      value,
      invokeNs: op.invokeNs,
      completeNs: this.#clock(),
      outcome,
    };
    this.#completed.push(done);
    return done;
  };

  /** Completed operations, in completion order. */
  get operations(): readonly Operation[] {
    return this.#completed;
  }

  /** Operations begun but not completed. */
  get pendingCount(): number {
    return this.#pending.size;
  }

  /**
   * Completes every pending operation as `unknown` (what a caller that gave up on them knows)
   * and returns how many there were. Call before checking a run cut short.
   */
  abandonPending(): number {
    const n = this.#pending.size;
    for (const op of [...this.#pending]) op.unknown();
    return n;
  }

  toJsonl(): string {
    return toJsonl(this.#completed);
  }
}

class PendingOperation implements PendingRead, PendingWrite {
  constructor(
    private readonly finish: (
      op: PendingOperation,
      outcome: OperationOutcome,
      value: string | null,
    ) => Operation,
    readonly process: string,
    readonly key: string,
    readonly kind: 'read' | 'write',
    readonly value: string | null,
    readonly invokeNs: bigint,
  ) {}

  ok(value?: string | null): Operation {
    if (this.kind === 'write') return this.finish(this, 'ok', this.value);
    if (value !== null && typeof value !== 'string') {
      throw new TypeError(
        `a read's ok() needs the value it returned (a string, or null for absent), got ${String(value)}`,
      );
    }
    return this.finish(this, 'ok', value);
  }

  fail(): Operation {
    return this.finish(this, 'fail', this.value);
  }

  unknown(): Operation {
    return this.finish(this, 'unknown', this.value);
  }
}
