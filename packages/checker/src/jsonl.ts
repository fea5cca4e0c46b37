import { createReadStream, createWriteStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { HistoryFormatError } from './errors.js';
import { operationProblem, type Operation } from './operation.js';

/**
 * One operation per line, bigints as decimal strings so no precision is lost:
 * `{"process":"p1","key":"42","kind":"write","value":"v1","invokeNs":"100","completeNs":"250","outcome":"ok"}`
 */
export function formatOperationLine(op: Operation): string {
  return JSON.stringify({
    process: op.process,
    key: op.key,
    kind: op.kind,
    value: op.value,
    invokeNs: op.invokeNs.toString(),
    completeNs: op.completeNs.toString(),
    outcome: op.outcome,
  });
}

export function toJsonl(ops: Iterable<Operation>): string {
  let text = '';
  for (const op of ops) text += formatOperationLine(op) + '\n';
  return text;
}

const DECIMAL = /^-?(0|[1-9][0-9]*)$/;
const FIELDS = new Set(['process', 'key', 'kind', 'value', 'invokeNs', 'completeNs', 'outcome']);

/** Parses one line; `line` is its 1-based number, used in every error message. */
export function parseOperationLine(text: string, line: number): Operation {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new HistoryFormatError(line, `not JSON (${(err as Error).message})`, { cause: err });
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new HistoryFormatError(line, 'expected a JSON object');
  }
  const obj = raw as Record<string, unknown>;
  for (const name of Object.keys(obj)) {
    if (!FIELDS.has(name)) throw new HistoryFormatError(line, `unknown field "${name}"`);
  }
  for (const name of FIELDS) {
    if (!(name in obj)) throw new HistoryFormatError(line, `missing field "${name}"`);
  }
  const ns = (name: 'invokeNs' | 'completeNs'): bigint => {
    const v = obj[name];
    if (typeof v !== 'string' || !DECIMAL.test(v)) {
      throw new HistoryFormatError(
        line,
        `${name} must be a decimal integer string, got ${JSON.stringify(v)}`,
      );
    }
    return BigInt(v);
  };
  const op = {
    process: obj.process,
    key: obj.key,
    kind: obj.kind,
    value: obj.value,
    invokeNs: ns('invokeNs'),
    completeNs: ns('completeNs'),
    outcome: obj.outcome,
  } as Operation;
  const problem = operationProblem(op);
  if (problem !== null) throw new HistoryFormatError(line, problem);
  return op;
}

/** Parses a whole JSONL text. Blank lines are skipped; line numbers count them. */
export function parseJsonl(text: string): Operation[] {
  const ops: Operation[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line !== '') ops.push(parseOperationLine(line, i + 1));
  }
  return ops;
}

/** Streams a JSONL file of any size, yielding operations as they are parsed. */
export async function* readJsonlFile(path: string): AsyncGenerator<Operation> {
  const lines = createInterface({ input: createReadStream(path, 'utf8'), crlfDelay: Infinity });
  let n = 0;
  try {
    for await (const text of lines) {
      n++;
      const line = text.trim();
      if (line !== '') yield parseOperationLine(line, n);
    }
  } finally {
    lines.close();
  }
}

/** Writes operations to `path` as JSONL, streaming (a million operations never sit in one string). */
export async function writeJsonlFile(path: string, ops: Iterable<Operation>): Promise<void> {
  function* lines(): Generator<string> {
    for (const op of ops) yield formatOperationLine(op) + '\n';
  }
  await pipeline(Readable.from(lines()), createWriteStream(path, 'utf8'));
}
