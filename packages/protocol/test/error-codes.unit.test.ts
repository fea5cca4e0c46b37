import { readFileSync } from 'node:fs';
import { describe, expect, it } from '@jest/globals';
import {
  ERROR_CODES,
  KEYLANE_ERROR_CODES,
  KeylaneError,
  LOCAL_ERROR_CODES,
  UnavailableError,
  VersionConflictError,
  errorBody,
  httpStatusOf,
  isErrorBody,
  isWireError,
  effectOf,
  isKeylaneErrorCode,
  isRetryable,
  type ErrorCode,
  type KeylaneErrorCode,
} from '../src/index.js';

describe('error code registry', () => {
  it('has the statuses the API promises', () => {
    const statuses = Object.fromEntries(
      Object.entries(ERROR_CODES).map(([code, { status }]) => [code, status]),
    );
    expect(statuses).toEqual({
      invalid_id: 400,
      invalid_body: 400,
      invalid_header: 400,
      payload_too_large: 413,
      not_found: 404,
      version_conflict: 409,
      overloaded: 503,
      unavailable: 503,
      deadline_exceeded: 504,
      outcome_unknown: 504,
      internal: 500,
    });
  });

  it('is the same table the README documents', () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    const documented = new Map<string, string>();
    for (const match of readme.matchAll(/^\| `([a-z_]+)` \| (\d{3}) \| (yes|no) \| (none|unknown|n\/a) \|/gm)) {
      documented.set(match[1]!, `${match[2]} ${match[3]} ${match[4]}`);
    }
    const registered = new Map(
      Object.entries(ERROR_CODES).map(([code, { status, retryable, effect }]) => [
        code,
        `${status} ${retryable ? 'yes' : 'no'} ${effect}`,
      ]),
    );
    expect(documented).toEqual(registered);
  });

  it('documents the local codes in the README, beside the wire ones', () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    const documented = new Map<string, string>();
    for (const match of readme.matchAll(/^\| `([a-z_]+)` \| (yes|no) \| (none|unknown|n\/a) \| ([^|]+) \|/gm)) {
      documented.set(match[1]!, `${match[2]} ${match[3]} ${match[4]!.trim()}`);
    }
    const registered = new Map(
      Object.entries(LOCAL_ERROR_CODES).map(([code, { retryable, effect, raisedBy }]) => [
        code,
        `${retryable ? 'yes' : 'no'} ${effect} ${raisedBy}`,
      ]),
    );
    expect(documented).toEqual(registered);
  });

  it('registers each code once: a local code is never also a wire code', () => {
    const wire = Object.keys(ERROR_CODES);
    expect(Object.keys(LOCAL_ERROR_CODES).filter((code) => wire.includes(code))).toEqual([]);
    expect(Object.keys(KEYLANE_ERROR_CODES).sort()).toEqual([...wire, ...Object.keys(LOCAL_ERROR_CODES)].sort());
    expect(isKeylaneErrorCode('request_timeout')).toBe(true);
    expect(isKeylaneErrorCode('teapot')).toBe(false);
  });

  it('builds and recognises error bodies', () => {
    const body = errorBody('not_found', 'no item 42');
    expect(body).toEqual({ error: { code: 'not_found', message: 'no item 42' } });
    expect(isErrorBody(body)).toBe(true);
    expect(isErrorBody({ error: { code: 'teapot', message: 'x' } })).toBe(false);
    expect(isErrorBody({ error: { code: 'internal' } })).toBe(false);
    expect(isErrorBody('internal')).toBe(false);
    expect(httpStatusOf('payload_too_large' satisfies ErrorCode)).toBe(413);
  });

  it('marks protocol errors as wire errors with their code', () => {
    const err = new VersionConflictError('42', 3, 5);
    expect(isWireError(err)).toBe(true);
    expect(err.code).toBe('version_conflict');
    expect(err.name).toBe('VersionConflictError');
    expect(err.message).toBe('item 42 is at version 5, not 3');
    expect(isWireError(new Error('x'))).toBe(false);
  });

  it('says what each answer means for the data, and only errors that changed nothing are retryable', () => {
    for (const [code, { retryable, effect }] of Object.entries(ERROR_CODES)) {
      if (retryable) expect([code, effect]).toEqual([code, 'none']);
    }
    expect(effectOf('outcome_unknown')).toBe('unknown');
    expect(isRetryable('outcome_unknown')).toBe(false);
    expect(effectOf('unavailable')).toBe('none');
    expect(isRetryable('deadline_exceeded')).toBe(true);
  });

  it('holds the local codes to the same rule, and every error answers from the registry', () => {
    for (const [code, { retryable, effect }] of Object.entries(LOCAL_ERROR_CODES)) {
      if (retryable) expect([code, effect]).toEqual([code, 'none']);
    }
    expect(effectOf('request_timeout' satisfies KeylaneErrorCode)).toBe('unknown');
    const down = new UnavailableError('redis down');
    expect([down.effect, down.retryable]).toEqual(['none', true]);
    const conflict = new VersionConflictError('1', 1, 2);
    expect([conflict.effect, conflict.retryable]).toEqual(['none', false]);
    const late = new KeylaneError('request_timeout', 'late');
    expect([late.effect, late.retryable]).toEqual(['unknown', false]);
    // Not a property of its own: errors still compare and serialize as they did.
    expect(Object.keys(late)).toEqual(['code', 'name']);
  });
});
