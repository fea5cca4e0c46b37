import { readFileSync } from 'node:fs';
import { describe, expect, it } from '@jest/globals';
import { InvalidOptionsError } from '../src/errors.js';
import {
  DEFAULTS,
  ENGINE_OPTIONS,
  resolveOptions,
  type EngineOptionName,
  type ResolvedOptions,
} from '../src/options/index.js';
import { shownDefault } from '../src/options/schema.js';
import type { LabEngineOptions } from '../src/options/index.js';

/**
 * The option table is the one place each option's default, range and description live: these
 * tests hold every other place to it (the validation, DEFAULTS, the README, the JSDoc). No
 * database: resolveOptions only validates.
 */
const NAMES = Object.keys(ENGINE_OPTIONS) as EngineOptionName[];

const base = (): LabEngineOptions => ({
  postgres: { connectionString: 'postgres://postgres@127.0.0.1:5432/test' },
  redis: { url: 'redis://127.0.0.1:6379', markerReplicas: 1 },
});

/** Where each option lands in the resolved options. */
const resolved: Record<EngineOptionName, (r: ResolvedOptions) => number | undefined> = {
  statementTimeoutMs: (r) => r.statementTimeoutMs,
  redisCommandTimeoutMs: (r) => (r.redis.kind === 'url' ? r.redis.commandTimeoutMs : undefined),
  markerReplicas: (r) => r.redis.markerReplication.replicas,
  markerReplicationTimeoutMs: (r) => r.redis.markerReplication.timeoutMs,
  lanes: (r) => r.lanes,
  cacheTtlMs: (r) => r.cacheTtlMs,
  leaseTtlMs: (r) => r.leaseTtlMs,
  markerTtlMs: (r) => r.markerTtlMs,
  maxQueuePerLane: (r) => r.maxQueuePerLane,
  maxQueueWaitMs: (r) => r.maxQueueWaitMs,
  doubleDeleteDelayMs: (r) => r.doubleDeleteDelayMs,
  lockTtlMs: (r) => r.lockTtlMs,
  chaosFillDelayMs: (r) => r.chaos.fillDelayMs,
  chaosWriteDelayMs: (r) => r.chaos.writeDelayMs,
  chaosCommitDelayMs: (r) => r.chaos.commitDelayMs,
};

/** The options object with `value` at the option's path. */
function withValue(path: string, value: unknown): LabEngineOptions {
  const options = base() as unknown as Record<string, Record<string, unknown>>;
  const [head, leaf] = path.split('.') as [string, string | undefined];
  if (leaf === undefined) (options as Record<string, unknown>)[head] = value;
  else options[head] = { ...(options[head] ?? {}), [leaf]: value };
  return options as unknown as LabEngineOptions;
}

describe('the option table', () => {
  it.each(NAMES)(
    '%s: unset is its default; its bounds are taken; one past either, a fraction and a string are refused naming it',
    (name) => {
      const option = ENGINE_OPTIONS[name];
      const read = resolved[name];
      // markerReplicationTimeoutMs only takes effect with markerReplicas >= 1, which base() sets;
      // markerReplicas' own default is checked without it.
      const unset =
        name === 'markerReplicas'
          ? { ...base(), redis: { url: 'redis://127.0.0.1:6379' } }
          : base();
      expect(read(resolveOptions(unset, true))).toBe(option.default);
      expect(DEFAULTS[name]).toBe(option.default);
      for (const ok of [option.min, option.max]) {
        expect(read(resolveOptions(withValue(option.path, ok), true))).toBe(ok);
      }
      for (const bad of [
        option.min - 1,
        option.max + 1,
        option.min + 0.5,
        String(option.default),
      ]) {
        expect(() => resolveOptions(withValue(option.path, bad), true)).toThrow(
          new InvalidOptionsError(
            option.path,
            `expected an integer in [${option.min}, ${option.max}], got ${typeof bad === 'number' ? String(bad) : JSON.stringify(bad)}`,
          ),
        );
      }
    },
  );

  it('matches the options table of README.md, row by row: default and description', () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    const rows = new Map(
      readme
        .split('\n')
        .map((line) => line.split(' | ').map((cell) => cell.replace(/^\|\s*|\s*\|$/g, '').trim()))
        .filter((cells) => cells.length === 3 && /^`[a-zA-Z.]+`$/.test(cells[0]!))
        .map((cells) => [cells[0]!.slice(1, -1), cells.slice(1)]),
    );
    for (const option of Object.values(ENGINE_OPTIONS).filter((o) => o.entry === 'main')) {
      expect([option.path, rows.get(option.path)]).toEqual([
        option.path,
        [shownDefault(option), option.description],
      ]);
    }
  });

  it('matches the @default of each option in the JSDoc of its type', () => {
    const sources = ['../src/types.ts', '../src/options/index.ts']
      .map((f) => readFileSync(new URL(f, import.meta.url), 'utf8'))
      .join('\n');
    // A doc comment and the optional field it documents.
    const documented = new Map<string, string>();
    for (const [, doc, field] of sources.matchAll(/\/\*\*((?:(?!\*\/)[\s\S])*)\*\/\s*(\w+)\?:/g)) {
      const tag = /@default ([0-9_]+)/.exec(doc!);
      if (tag) documented.set(field!, tag[1]!);
    }
    for (const option of Object.values(ENGINE_OPTIONS)) {
      const field = option.path.split('.').pop()!;
      if (!documented.has(field)) continue; // chaos.* are documented without one: off unless set
      expect([option.path, Number(documented.get(field)!.replaceAll('_', ''))]).toEqual([
        option.path,
        option.default,
      ]);
    }
    const main = Object.values(ENGINE_OPTIONS)
      .filter((o) => o.entry === 'main')
      .map((o) => o.path.split('.').pop()!);
    expect(main.filter((field) => !documented.has(field))).toEqual([]);
  });
});
