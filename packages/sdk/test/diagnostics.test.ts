import { tracingChannel } from 'node:diagnostics_channel';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { REQUEST_ID_HEADER } from '@keylane/protocol';
import { createClient, SDK_CHANNELS, type KeylaneClient, type RequestContext } from '../src/index.js';
import { fail, keyStream, startFleet, stopFleet, type ItemServer } from './helpers/item-server.js';

type EventName = 'start' | 'end' | 'asyncStart' | 'asyncEnd' | 'error';
interface Seen {
  event: EventName;
  context: RequestContext;
  snapshot: Partial<RequestContext>;
}

let servers: ItemServer[];
let client: KeylaneClient;

beforeEach(async () => {
  servers = await startFleet(3);
  client = createClient({
    instances: servers.map((s) => ({ id: s.name, url: s.url })),
    healthCheck: { intervalMs: 60_000, timeoutMs: 1000 },
    requestTimeoutMs: 1500,
  });
  await client.ready();
});
afterEach(async () => {
  await client.close();
  await stopFleet(servers);
});

const server = (id: string) => servers.find((s) => s.name === id)!;
const ownedBy = (id: string) => [...keyStream(5n, 2000)].find((k) => client.getServiceConnection(k).instanceId === id)!;

/** Subscribes to keylane:sdk:request for the duration of `work`. */
async function record(work: () => Promise<unknown>): Promise<Seen[]> {
  const seen: Seen[] = [];
  const channel = tracingChannel<unknown, RequestContext>(SDK_CHANNELS.request);
  const on = (event: EventName) => (context: RequestContext) => {
    const { result: _result, error: _error, ...fields } = context;
    seen.push({ event, context, snapshot: { ...fields } });
  };
  const handlers = { start: on('start'), end: on('end'), asyncStart: on('asyncStart'), asyncEnd: on('asyncEnd'), error: on('error') };
  channel.subscribe(handlers);
  try {
    await work();
  } finally {
    channel.unsubscribe(handlers);
  }
  return seen;
}

describe(`the ${SDK_CHANNELS.request} channel (real HTTP servers)`, () => {
  it('one span per request: start before it is sent with method, key, instance, attempt and request id; settled with status and outcome', async () => {
    const headers: (string | undefined)[] = [];
    for (const s of servers)
      s.intercept = (req) => {
        headers.push(req.headers[REQUEST_ID_HEADER] as string | undefined);
        return false;
      };
    const key = ownedBy('item-2');
    const seen = await record(() => client.put(key, 'v', { requestId: 'order-1' }));
    expect(seen.map((s) => s.event)).toEqual(['start', 'end', 'asyncStart', 'asyncEnd']);
    expect(seen[0]!.snapshot).toEqual({
      method: 'PUT',
      key: String(key),
      instance: 'item-2',
      attempt: 1,
      requestId: 'order-1',
      traceparent: undefined,
    });
    expect(seen[3]!.snapshot).toMatchObject({ outcome: 'ok', status: 200 });
    expect(seen[3]!.context.result).toMatchObject({ id: String(key), version: 1 });
    expect(new Set(seen.map((s) => s.context)).size).toBe(1); // one context object for the span
    expect(headers).toEqual(['order-1']);
  });

  it('an error answer publishes error with its wire code before the span ends', async () => {
    const key = ownedBy('item-1');
    server('item-1').intercept = (req, res) => {
      if (req.method !== 'PUT') return false;
      fail(res, 'version_conflict', 'not at version 3');
      return true;
    };
    const seen = await record(() => client.put(key, 'v', { ifVersion: 3 }).catch(() => undefined));
    expect(seen.map((s) => s.event)).toEqual(['start', 'end', 'error', 'asyncStart', 'asyncEnd']);
    expect(seen[2]!.snapshot).toMatchObject({ outcome: 'error', code: 'version_conflict', status: 409, instance: 'item-1' });
    expect((seen[2]!.context.error as { code: string }).code).toBe('version_conflict');
  });

  it("a read whose connection breaks is rerouted: two spans, attempt 1 on the owner (failed) then attempt 2 on another, one request id", async () => {
    const key = ownedBy('item-3');
    server('item-3').intercept = (req) => {
      if (req.method !== 'GET' || !req.url?.startsWith('/v1/items/')) return false;
      req.socket.destroy();
      return true;
    };
    const seen = await record(() => client.get(key));
    const starts = seen.filter((s) => s.event === 'start').map((s) => s.snapshot);
    const ends = seen.filter((s) => s.event === 'asyncEnd').map((s) => s.snapshot);
    expect(starts.map((s) => [s.instance, s.attempt])).toEqual([
      ['item-3', 1],
      [expect.not.stringMatching('item-3'), 2],
    ]);
    expect(ends.map((s) => s.outcome)).toEqual(['error', 'ok']);
    expect(ends[0]!.code).toBe('connection_failed');
    expect(new Set(starts.map((s) => s.requestId)).size).toBe(1);
    // The first span ended before the second began.
    const firstEnd = seen.findIndex((s) => s.event === 'asyncEnd');
    const secondStart = seen.findIndex((s, i) => s.event === 'start' && i > 0);
    expect(firstEnd).toBeLessThan(secondStart);
  });

  it('sends the caller’s traceparent and tracestate, and puts it on the context', async () => {
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const sent: Record<string, unknown>[] = [];
    for (const s of servers)
      s.intercept = (req) => {
        sent.push({ traceparent: req.headers['traceparent'], tracestate: req.headers['tracestate'], id: req.headers[REQUEST_ID_HEADER] });
        return false;
      };
    const seen = await record(() => client.get(1n, { traceparent, tracestate: 'vendor=1' }));
    expect(seen[0]!.snapshot.traceparent).toBe(traceparent);
    expect(sent).toEqual([{ traceparent, tracestate: 'vendor=1', id: seen[0]!.snapshot.requestId }]);
    // Without one, no traceparent header at all.
    sent.length = 0;
    await client.get(1n);
    expect(sent[0]!['traceparent']).toBeUndefined();
  });

  it('publishes nothing once unsubscribed', async () => {
    const channel = tracingChannel<unknown, RequestContext>(SDK_CHANNELS.request);
    let starts = 0;
    const onStart = (): void => void (starts += 1);
    channel.start.subscribe(onStart);
    await client.get(1n);
    channel.start.unsubscribe(onStart);
    expect(channel.hasSubscribers).toBe(false);
    await client.get(1n);
    expect(starts).toBe(1);
  });
});
