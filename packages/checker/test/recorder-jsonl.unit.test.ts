import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  checkHistory,
  HistoryFormatError,
  HistoryRecorder,
  parseJsonl,
  readJsonlFile,
  RecorderMisuseError,
  toJsonl,
  writeJsonlFile,
  type Operation,
} from '../src/index.js';

function fakeClock(): () => bigint {
  let t = 1_000n;
  return () => (t += 10n);
}

describe('HistoryRecorder', () => {
  test('stamps invocation at begin and completion at the outcome, in completion order', () => {
    const rec = new HistoryRecorder({ clock: fakeClock() });
    const w = rec.begin('p1', '42', 'write', 'v1'); // 1010
    const r = rec.begin('p2', '42', 'read'); // 1020
    r.ok(null); // 1030
    w.ok(); // 1040
    const f = rec.begin('p3', '42', 'read'); // 1050
    f.fail(); // 1060
    expect(rec.operations).toEqual([
      {
        process: 'p2',
        key: '42',
        kind: 'read',
        value: null,
        invokeNs: 1020n,
        completeNs: 1030n,
        outcome: 'ok',
      },
      {
        process: 'p1',
        key: '42',
        kind: 'write',
        value: 'v1',
        invokeNs: 1010n,
        completeNs: 1040n,
        outcome: 'ok',
      },
      {
        process: 'p3',
        key: '42',
        kind: 'read',
        value: null,
        invokeNs: 1050n,
        completeNs: 1060n,
        outcome: 'fail',
      },
    ]);
    expect(checkHistory(rec.operations).ok).toBe(true);
  });

  test('uses process.hrtime by default', () => {
    const rec = new HistoryRecorder();
    const before = process.hrtime.bigint();
    rec.begin('p', 'k', 'read').ok('x');
    const [op] = rec.operations;
    expect(op!.invokeNs).toBeGreaterThanOrEqual(before);
    expect(op!.completeNs).toBeGreaterThanOrEqual(op!.invokeNs);
    expect(op!.completeNs).toBeLessThanOrEqual(process.hrtime.bigint());
  });

  test('completing twice is refused', () => {
    const rec = new HistoryRecorder({ clock: fakeClock() });
    const w = rec.begin('p1', '42', 'write', 'v1');
    w.unknown();
    expect(() => w.ok()).toThrow(RecorderMisuseError);
    expect(() => w.ok()).toThrow('write of key 42 by p1 was already completed');
    expect(rec.operations).toHaveLength(1);
  });

  test('writing a value twice to one key is refused at once', () => {
    const rec = new HistoryRecorder({ clock: fakeClock() });
    rec.begin('p1', '42', 'write', 'v1').fail();
    rec.begin('p1', '43', 'write', 'v1').ok();
    expect(() => rec.begin('p2', '42', 'write', 'v1')).toThrow(
      'value "v1" was already written to key 42: written values must be unique per key',
    );
  });

  test('pending operations can be abandoned as unknown', () => {
    const rec = new HistoryRecorder({ clock: fakeClock() });
    rec.begin('p1', '42', 'write', 'v1');
    rec.begin('p2', '42', 'read');
    rec.begin('p3', '42', 'read').ok(null);
    expect(rec.pendingCount).toBe(2);
    expect(rec.abandonPending()).toBe(2);
    expect(rec.pendingCount).toBe(0);
    expect(rec.operations.map((o) => `${o.kind}:${o.outcome}`)).toEqual([
      'read:ok',
      'write:unknown',
      'read:unknown',
    ]);
  });

  test('arguments are checked where they enter', () => {
    const rec = new HistoryRecorder();
    expect(() => rec.begin('', 'k', 'read')).toThrow('process must be a non-empty string');
    expect(() => rec.begin('p', '', 'read')).toThrow('key must be a non-empty string');
    expect(() => (rec.begin as (...a: unknown[]) => unknown)('p', 'k', 'write')).toThrow(
      'value must be a string for a write',
    );
    const r = rec.begin('p', 'k', 'read');
    expect(() => (r.ok as (v?: unknown) => unknown)()).toThrow(
      "a read's ok() needs the value it returned",
    );
    expect(() => new HistoryRecorder({ clock: 5 as unknown as () => bigint })).toThrow(
      'options.clock must be a function',
    );
  });
});

describe('JSONL', () => {
  const ops: Operation[] = [
    {
      process: 'p1',
      key: '-9223372036854775808',
      kind: 'write',
      value: 'v "quoted"\n',
      invokeNs: 18446744073709551615n,
      completeNs: 18446744073709551616n,
      outcome: 'unknown',
    },
    {
      process: 'p2',
      key: '7',
      kind: 'read',
      value: null,
      invokeNs: 1n,
      completeNs: 2n,
      outcome: 'ok',
    },
  ];

  test('round-trips bigints beyond 2^53 and odd strings exactly', () => {
    const text = toJsonl(ops);
    expect(text.split('\n')[1]).toBe(
      '{"process":"p2","key":"7","kind":"read","value":null,"invokeNs":"1","completeNs":"2","outcome":"ok"}',
    );
    expect(parseJsonl(text)).toEqual(ops);
  });

  test.each([
    ['not JSON', '{"process":', /^history line 2: not JSON/],
    ['an array', '[1]', /^history line 2: expected a JSON object$/],
    [
      'a missing field',
      '{"process":"p","key":"k","kind":"read","value":null,"invokeNs":"1","outcome":"ok"}',
      /^history line 2: missing field "completeNs"$/,
    ],
    [
      'an extra field',
      '{"process":"p","key":"k","kind":"read","value":null,"invokeNs":"1","completeNs":"2","outcome":"ok","x":1}',
      /^history line 2: unknown field "x"$/,
    ],
    [
      'a number timestamp',
      '{"process":"p","key":"k","kind":"read","value":null,"invokeNs":1,"completeNs":"2","outcome":"ok"}',
      /^history line 2: invokeNs must be a decimal integer string, got 1$/,
    ],
    [
      'a bad kind',
      '{"process":"p","key":"k","kind":"cas","value":null,"invokeNs":"1","completeNs":"2","outcome":"ok"}',
      /^history line 2: kind must be "read" or "write", got "cas"$/,
    ],
    [
      'a write of null',
      '{"process":"p","key":"k","kind":"write","value":null,"invokeNs":"1","completeNs":"2","outcome":"ok"}',
      /^history line 2: a write must carry a string value/,
    ],
    [
      'time running backwards',
      '{"process":"p","key":"k","kind":"read","value":null,"invokeNs":"3","completeNs":"2","outcome":"ok"}',
      /^history line 2: completeNs \(2\) is before invokeNs \(3\)$/,
    ],
  ])('rejects %s, naming the line', (_name, bad, message) => {
    const text = `${toJsonl(ops.slice(1))}${bad}\n`;
    let caught: unknown;
    try {
      parseJsonl(text);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(HistoryFormatError);
    expect(caught).toMatchObject({ code: 'invalid_history_line', line: 2 });
    expect((caught as Error).message).toMatch(message);
  });

  describe('files', () => {
    let dir: string;
    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'keylane-checker-'));
    });
    afterAll(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    test('write then stream back', async () => {
      const many: Operation[] = [];
      for (let i = 0; i < 20_000; i++) {
        many.push({
          process: `p${i % 7}`,
          key: String(i % 13),
          kind: 'write',
          value: `v${i}`,
          invokeNs: BigInt(i),
          completeNs: BigInt(i + 5),
          outcome: 'ok',
        });
      }
      const path = join(dir, 'history.jsonl');
      await writeJsonlFile(path, many);
      const back: Operation[] = [];
      for await (const op of readJsonlFile(path)) back.push(op);
      expect(back).toEqual(many);
    });

    test('a bad line in a file names its line number, counting blank lines', async () => {
      const path = join(dir, 'bad.jsonl');
      await writeFile(path, `${toJsonl(ops)}\n{"oops":true}\n`);
      const read = async (): Promise<number> => {
        let n = 0;
        for await (const _op of readJsonlFile(path)) n++;
        return n;
      };
      await expect(read()).rejects.toMatchObject({ code: 'invalid_history_line', line: 4 });
    });
  });
});
