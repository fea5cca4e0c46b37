import { describe, expect, it } from '@jest/globals';
import { errorFromAnswer, retryAfterMs } from '../src/client/response-errors.js';
import { ConnectionError, NoHealthyInstanceError, RequestTimeoutError, ServiceError } from '../src/core/errors.js';

describe('Retry-After', () => {
  it('reads delta-seconds and HTTP dates, and falls back to 1 s', () => {
    const now = Date.parse('2026-11-26T07:00:00Z');
    expect(retryAfterMs('3', now)).toBe(3000);
    expect(retryAfterMs(' 0 ', now)).toBe(0);
    expect(retryAfterMs('Thu, 26 Nov 2026 07:00:05 GMT', now)).toBe(5000);
    expect(retryAfterMs('Thu, 26 Nov 2026 06:00:00 GMT', now)).toBe(0);
    expect(retryAfterMs('soon', now)).toBe(1000);
    expect(retryAfterMs(undefined, now)).toBe(1000);
  });
});

describe('error answers', () => {
  const base = { instanceId: 'item-1', retryAfter: undefined, id: '42', ifVersion: 3 };

  it('uses a 409 body’s actualVersion when a service sends one', () => {
    const body = JSON.stringify({ error: { code: 'version_conflict', message: 'at 7', actualVersion: 7 } });
    expect(errorFromAnswer({ ...base, status: 409, body })).toMatchObject({
      code: 'version_conflict',
      expectedVersion: 3,
      actualVersion: 7,
      message: 'item 42 is at version 7, not 3',
    });
  });

  it('does not trust a status without its code: a bare 503 is a ServiceError', () => {
    expect(errorFromAnswer({ ...base, status: 503, body: 'upstream down' })).toMatchObject({
      code: 'service_error',
      status: 503,
      serviceCode: null,
      message: 'instance item-1 answered 503: upstream down',
    });
  });
});

describe('what an error says happened, from the registry', () => {
  it('refines the registry by what the error knows: sent or not, the code the service answered', () => {
    const facts = (err: { effect: string; retryable: boolean }): [string, boolean] => [err.effect, err.retryable];
    expect(facts(new ConnectionError('item-1', false))).toEqual(['none', true]);
    expect(facts(new ConnectionError('item-1', true))).toEqual(['unknown', false]);
    expect(facts(new ServiceError('item-1', 500, 'internal', 'bug'))).toEqual(['unknown', false]);
    expect(facts(new ServiceError('item-1', 503, 'overloaded', 'full'))).toEqual(['none', true]);
    expect(facts(new ServiceError('item-1', 404, null, 'no route'))).toEqual(['n/a', false]);
    expect(facts(new ServiceError('item-1', 502, null, 'proxy'))).toEqual(['unknown', false]);
    expect(facts(new RequestTimeoutError('item-1', 100))).toEqual(['unknown', false]);
    expect(facts(new NoHealthyInstanceError())).toEqual(['none', true]);
  });
});
