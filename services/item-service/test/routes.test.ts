import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createTestContext, startRedisServer, type TestContext } from '@keylane/harness';
import { ERROR_CODES, isErrorBody, type ErrorCode } from '@keylane/protocol';
import { inspect, laneClient } from '@keylane/engine/testing';
import { createServer, type ItemService } from '../src/server.js';
import { captureLogger, httpClient, rowCount, testConfig, type LogLine } from './helpers.js';

const MAX = '9223372036854775807';
const MIN = '-9223372036854775808';

let ctx: TestContext;
let service: ItemService;
let logs: LogLine[];
let baseUrl = '';
const api = httpClient(() => baseUrl);
const clients: { close(): Promise<void> }[] = [api];
// A client for a server started inside one test; closed with the rest in afterAll.
function http(local: ItemService): ReturnType<typeof httpClient> {
  const client = httpClient(() => localUrls.get(local) ?? '');
  clients.push(client);
  return client;
}
const localUrls = new Map<ItemService, string>();
async function startLocal(local: ItemService): Promise<ItemService> {
  localUrls.set(local, await local.listen());
  return local;
}
function expectError(response: { statusCode: number; body: string }, code: ErrorCode): void {
  const body: unknown = JSON.parse(response.body);
  expect(isErrorBody(body)).toBe(true);
  expect(body).toMatchObject({ error: { code } });
  expect(response.statusCode).toBe(ERROR_CODES[code].status);
}

beforeAll(async () => {
  ctx = await createTestContext({ name: 'itemsvc_routes' });
  const capture = captureLogger('debug');
  logs = capture.lines;
  service = await createServer(testConfig(ctx, { KEYLANE_MAX_BODY_BYTES: '1024' }), {
    logger: capture.logger,
    processMetrics: false,
  });
  // A route that fails the way a bug would, to see the `internal` path end to end.
  service.app.get('/test/boom', () => {
    throw new TypeError('a bug with a secret in its message');
  });
  baseUrl = await service.listen();
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await service?.close();
  await ctx?.dispose();
});

describe('items', () => {
  it('round-trips the 64-bit extreme ids through PUT and GET', async () => {
    for (const id of [MAX, MIN, '0', '-1']) {
      const put = await api.call({
        method: 'PUT',
        url: `/v1/items/${id}`,
        payload: { value: { id } },
      });
      expect(put.statusCode).toBe(200);
      expect(put.json()).toEqual({ id, value: { id }, version: 1 });
      const get = await api.call({ method: 'GET', url: `/v1/items/${id}` });
      expect(get.statusCode).toBe(200);
      expect(get.json()).toEqual({ id, value: { id }, version: 1 });
    }
    const { rows } = await ctx.pg.query<{ id: string }>(
      `SELECT id::text AS id FROM "${ctx.schema}".items ORDER BY items.id`,
    );
    expect(rows.map((r) => r.id)).toEqual([MIN, '-1', '0', MAX]);
  });

  it('GET answers a hit with the cached bytes as Redis holds them, as JSON, on a hit and on the miss that filled it', async () => {
    const url = '/v1/items/4545';
    await api.call({ method: 'PUT', url, payload: { value: { nested: [1, 'two', null], 'é': true } } });
    const valueKey = `{${ctx.prefix}:items:4545}:v`;
    await ctx.redis.del(valueKey); // the next GET misses and fills
    const miss = await api.call({ method: 'GET', url });
    const cached = await ctx.redis.get(valueKey);
    const hit = await api.call({ method: 'GET', url });
    expect(cached).not.toBeNull();
    for (const answer of [miss, hit]) {
      expect(answer.statusCode).toBe(200);
      expect(answer.headers['content-type']).toBe('application/json; charset=utf-8');
      expect(answer.body).toBe(cached);
    }
    expect(hit.json()).toEqual({ id: '4545', value: { nested: [1, 'two', null], 'é': true }, version: 1 });
  });

  it('GET of an absent id is 404 not_found', async () => {
    expectError(await api.call({ method: 'GET', url: '/v1/items/424242' }), 'not_found');
  });

  it('PUT grows the version; ifVersion guards it; 0 means must not exist', async () => {
    const url = '/v1/items/77';
    expect(
      (await api.call({ method: 'PUT', url, payload: { value: 'a', ifVersion: 0 } })).json(),
    ).toMatchObject({
      version: 1,
    });
    expectError(
      await api.call({ method: 'PUT', url, payload: { value: 'b', ifVersion: 0 } }),
      'version_conflict',
    );
    const conflict = await api.call({ method: 'PUT', url, payload: { value: 'b', ifVersion: 5 } });
    expectError(conflict, 'version_conflict');
    expect(conflict.json()).toEqual({
      error: { code: 'version_conflict', message: 'item 77 is at version 1, not 5', actualVersion: 1 },
    });
    const absent = await api.call({
      method: 'PUT',
      url: '/v1/items/78',
      payload: { value: 'x', ifVersion: 3 },
    });
    expect(absent.json()).toMatchObject({ error: { code: 'version_conflict', actualVersion: null } });
    const ok = await api.call({ method: 'PUT', url, payload: { value: 'b', ifVersion: 1 } });
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toEqual({ id: '77', value: 'b', version: 2 });
    const blind = await api.call({ method: 'PUT', url, payload: { value: null } });
    expect(blind.json()).toEqual({ id: '77', value: null, version: 3 });
  });

  it('DELETE is 204, then 404', async () => {
    await api.call({ method: 'PUT', url: '/v1/items/88', payload: { value: 1 } });
    const del = await api.call({ method: 'DELETE', url: '/v1/items/88' });
    expect(del.statusCode).toBe(204);
    expect(del.body).toBe('');
    expectError(await api.call({ method: 'DELETE', url: '/v1/items/88' }), 'not_found');
    expectError(await api.call({ method: 'GET', url: '/v1/items/88' }), 'not_found');
  });

  it.each([
    ['not a number', 'abc'],
    ['leading zero', '007'],
    ['plus sign', '+1'],
    ['minus zero', '-0'],
    ['exponent', '1e3'],
    ['hex', '0x10'],
    ['one past the max', '9223372036854775808'],
    ['one past the min', '-9223372036854775809'],
    ['space (encoded)', '1%201'],
    ['bad percent-encoding', '%zz'],
    ['over the router limit', '1'.repeat(65)],
    ['long but under the router limit', '9'.repeat(40)],
  ])(
    'a bad id (%s) is 400 invalid_id for every method, before the body is read',
    async (_label, id) => {
      const rowsBefore = await rowCount(ctx);
      for (const method of ['GET', 'PUT', 'DELETE'] as const) {
        const response = await api.call({
          method,
          url: `/v1/items/${id}`,
          payload: method === 'PUT' ? 'not json' : undefined,
          headers: { 'content-type': 'application/json' },
        });
        expectError(response, 'invalid_id');
      }
      expect(await rowCount(ctx)).toBe(rowsBefore);
    },
  );

  it.each([
    ['not JSON', 'application/json', '{"value":'],
    ['empty JSON body', 'application/json', ''],
    ['JSON without value', 'application/json', '{"v":1}'],
    ['JSON array', 'application/json', '[1,2]'],
    ['JSON string', 'application/json', '"value"'],
    ['ifVersion as a string', 'application/json', '{"value":1,"ifVersion":"1"}'],
    ['ifVersion negative', 'application/json', '{"value":1,"ifVersion":-1}'],
    ['ifVersion fractional', 'application/json', '{"value":1,"ifVersion":1.5}'],
    ['ifVersion beyond 2^53', 'application/json', '{"value":1,"ifVersion":1e20}'],
    ['ifVersion null', 'application/json', '{"value":1,"ifVersion":null}'],
    ['ifVersion boolean', 'application/json', '{"value":1,"ifVersion":true}'],
    ['a misspelt field', 'application/json', '{"value":1,"ifversion":0}'],
    ['prototype poisoning', 'application/json', '{"value":1,"__proto__":{"x":1}}'],
    ['text/plain', 'text/plain', '{"value":1}'],
    ['form encoded', 'application/x-www-form-urlencoded', 'value=1'],
  ])('PUT with %s is 400 invalid_body and writes nothing', async (_label, contentType, payload) => {
    const rowsBefore = await rowCount(ctx);
    expectError(
      await api.call({
        method: 'PUT',
        url: '/v1/items/5',
        headers: { 'content-type': contentType },
        payload,
      }),
      'invalid_body',
    );
    expect(await rowCount(ctx)).toBe(rowsBefore);
  });

  it('PUT without a content type is 400 invalid_body', async () => {
    expectError(await api.call({ method: 'PUT', url: '/v1/items/5' }), 'invalid_body');
  });

  it('a body over KEYLANE_MAX_BODY_BYTES is 413 payload_too_large', async () => {
    const payload = JSON.stringify({ value: 'x'.repeat(2000) });
    expectError(
      await api.call({
        method: 'PUT',
        url: '/v1/items/5',
        headers: { 'content-type': 'application/json' },
        payload,
      }),
      'payload_too_large',
    );
    const fits = JSON.stringify({ value: 'x'.repeat(900) });
    const ok = await api.call({
      method: 'PUT',
      url: '/v1/items/5',
      headers: { 'content-type': 'application/json' },
      payload: fits,
    });
    expect(ok.statusCode).toBe(200);
  });
});

describe('deadlines and honest outcomes', () => {
  const put = (id: string, headers: Record<string, string>, value: unknown = 'v') =>
    api.call({ method: 'PUT', url: `/v1/items/${id}`, payload: { value }, headers });

  it('a malformed x-keylane-deadline is 400 invalid_header, before anything is done', async () => {
    const rows = await rowCount(ctx);
    // (Surrounding blanks never reach the service: the HTTP parser strips them.)
    for (const bad of ['soon', '1.5e12', '-1', '1'.repeat(17)]) {
      expectError(await put('7100', { 'x-keylane-deadline': bad }), 'invalid_header');
    }
    expect(await rowCount(ctx)).toBe(rows);
  });

  it('a deadline already past is 504 deadline_exceeded and nothing is written; a live one is served', async () => {
    expectError(await put('7101', { 'x-keylane-deadline': String(Date.now() - 1) }), 'deadline_exceeded');
    // Within the clock-skew allowance (100 ms) counts as past too.
    expectError(await put('7101', { 'x-keylane-deadline': String(Date.now() + 50) }), 'deadline_exceeded');
    expect((await api.call({ method: 'GET', url: '/v1/items/7101' })).statusCode).toBe(404);
    const ok = await put('7101', { 'x-keylane-deadline': String(Date.now() + 5_000) });
    expect(ok.statusCode).toBe(200);
  });

  // JSON text carrying an escaped lone surrogate is valid JSON, not Unicode text (the route
  // refuses it); U+0000 is refused by the engine (invalid_value), which this edge maps.
  it.each([
    ['a lone UTF-16 surrogate (the route)', '7102', '{"value":"a\\ud800b"}', /lone UTF-16 surrogate/],
    ['U+0000, which jsonb cannot store (the engine: invalid_value)', '7104', '{"value":{"k":"nul\\u0000"}}', /U\+0000/],
  ])('a value with %s is 400 invalid_body and never reaches the DB', async (_what, id, payload, message) => {
    const before = service.engine.stats().dbErrors;
    const response = await api.call({
      method: 'PUT',
      url: `/v1/items/${id}`,
      headers: { 'content-type': 'application/json' },
      payload,
    });
    expectError(response, 'invalid_body');
    expect(response.json().error.message).toMatch(message);
    expect(service.engine.stats().dbErrors).toBe(before);
  });

  it('a COMMIT cut in flight is 504 outcome_unknown, not unavailable', async () => {
    const client = laneClient(service.engine, 7103n);
    const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    await ctx.pg.query(`
      CREATE FUNCTION slow_commit() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN IF NEW.id = 7103 THEN PERFORM pg_sleep(5); END IF; RETURN NULL; END $$;
      CREATE CONSTRAINT TRIGGER slow_commit AFTER INSERT OR UPDATE ON items
        DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION slow_commit()`);
    try {
      const answer = put('7103', {});
      for (let i = 0; i < 400; i++) {
        const activity = await ctx.pg.query<{ query: string }>('SELECT query FROM pg_stat_activity WHERE pid = $1', [rows[0]!.pid]);
        if (activity.rows[0]?.query.includes('COMMIT')) break;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      await ctx.pg.query('SELECT pg_terminate_backend($1)', [rows[0]!.pid]);
      const response = await answer;
      expectError(response, 'outcome_unknown');
      expect(response.json().error.message).toMatch(/may or may not have committed/);
    } finally {
      await ctx.pg.query('DROP TRIGGER slow_commit ON items; DROP FUNCTION slow_commit()');
    }
  });
});

describe('routing', () => {
  it.each([
    ['GET', '/'],
    ['GET', '/v1/items'],
    ['GET', '/v1/items/1/extra'],
    ['GET', '/v2/items/1'],
    ['POST', '/v1/items/1'],
    ['PATCH', '/v1/items/1'],
    ['OPTIONS', '/v1/items/1'],
    ['POST', '/healthz/ready'],
    ['DELETE', '/metrics'],
  ] as const)('%s %s is 404 not_found (the registry has no 405)', async (method, url) => {
    expectError(await api.call({ method, url }), 'not_found');
  });

  it('every answer carries the request id that the log lines use', async () => {
    const response = await api.call({ method: 'GET', url: '/v1/items/nope' });
    const requestId = response.headers['x-request-id'];
    expect(typeof requestId).toBe('string');
    expect(logs.some((l) => l.reqId === requestId && l.code === 'invalid_id')).toBe(true);
  });
});

describe("what Node's HTTP parser refuses", () => {
  async function raw(bytes: string): Promise<{ status: number; body: unknown }> {
    const { port } = new URL(baseUrl);
    const socket = connect(Number(port), '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.write(bytes);
    await once(socket, 'close');
    const text = Buffer.concat(chunks).toString('latin1');
    const [head = '', body = ''] = text.split('\r\n\r\n');
    return { status: Number(head.split(' ')[1]), body: JSON.parse(body) as unknown };
  }

  it.each([
    ['a garbage request line', 'GARBAGE\r\n\r\n', 400, 'invalid_body'],
    [
      'a bad header line',
      'GET /healthz/live HTTP/1.1\r\nno colon here\r\n\r\n',
      400,
      'invalid_body',
    ],
    [
      'a 20 KB id',
      `GET /v1/items/${'1'.repeat(20_000)} HTTP/1.1\r\nHost: x\r\n\r\n`,
      400,
      'invalid_id',
    ],
    [
      'a 20 KB path elsewhere',
      `GET /x/${'a'.repeat(20_000)} HTTP/1.1\r\nHost: x\r\n\r\n`,
      413,
      'payload_too_large',
    ],
    [
      'a 20 KB header after a good item path',
      `GET /v1/items/1 HTTP/1.1\r\nHost: x\r\nX-Big: ${'b'.repeat(20_000)}\r\n\r\n`,
      413,
      'payload_too_large',
    ],
    [
      'a 20 KB header',
      `GET /healthz/live HTTP/1.1\r\nHost: x\r\nX-Big: ${'b'.repeat(20_000)}\r\n\r\n`,
      413,
      'payload_too_large',
    ],
  ] as const)(
    '%s gets a registry error body on the socket',
    async (_label, bytes, status, code) => {
      const answer = await raw(bytes);
      expect(answer.status).toBe(status);
      expect(isErrorBody(answer.body)).toBe(true);
      expect(answer.body).toMatchObject({ error: { code } });
    },
  );
});

describe('errors', () => {
  it('an unexpected error is 500 internal, hides its message, and is logged at error with the request id', async () => {
    const response = await api.call({ method: 'GET', url: '/test/boom' });
    expectError(response, 'internal');
    expect(response.body).not.toContain('secret');
    const requestId = String(response.headers['x-request-id']);
    expect(response.json().error.message).toContain(requestId);
    const logged = logs.filter((l) => l.reqId === requestId && l.level >= 50);
    expect(logged.length).toBeGreaterThan(0);
    expect(JSON.stringify(logged)).toContain('secret');
  });

  it('bad input is never logged above info', () => {
    const refused = logs.filter((l) => l.msg === 'request refused');
    expect(refused.length).toBeGreaterThan(20);
    expect(refused.every((l) => l.level <= 30)).toBe(true);
    // A write whose outcome a dependency left unknown is a warning, not bad input.
    const loud = logs.filter((l) => l.level > 30 && l.reqId !== undefined && l['code'] !== 'outcome_unknown');
    // Only the deliberate bug above may be logged louder than info.
    expect(new Set(loud.map((l) => l.reqId)).size).toBe(1);
  });
});

describe('health', () => {
  it('live is 200 with the instance id', async () => {
    const response = await api.call({ method: 'GET', url: '/healthz/live' });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toMatchObject({ live: true, instanceId: 'test-instance' });
  });

  it('ready is 200 when Postgres and Redis answer', async () => {
    const response = await api.call({ method: 'GET', url: '/healthz/ready' });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toMatchObject({
      ready: true,
      degraded: false,
      postgres: true,
      redis: true,
      draining: false,
      problems: [],
    });
  });
});

describe('a full lane', () => {
  it('answers 503 overloaded with Retry-After, and the accepted writes all commit', async () => {
    const local = await startLocal(
      await createServer(
        testConfig(ctx, {
          KEYLANE_LANES: '1',
          KEYLANE_MAX_QUEUE_PER_LANE: '1',
          KEYLANE_ALLOW_CHAOS: '1',
          KEYLANE_CHAOS_WRITE_DELAY_MS: '200',
        }),
        { logger: captureLogger().logger, processMetrics: false },
      ),
    );
    try {
      const responses = await Promise.all(
        Array.from({ length: 6 }, (_, i) =>
          http(local).call({ method: 'PUT', url: `/v1/items/${1000 + i}`, payload: { value: i } }),
        ),
      );
      const overloaded = responses.filter((r) => r.statusCode === 503);
      const accepted = responses.filter((r) => r.statusCode === 200);
      expect(overloaded.length).toBeGreaterThan(0);
      expect(accepted.length).toBeGreaterThan(0);
      for (const r of overloaded) {
        expectError(r, 'overloaded');
        expect(Number(r.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      }
      for (const r of accepted) {
        const { stored } = await inspect(local.items.entity, r.json().id as string);
        expect(stored).toEqual(r.json());
      }
    } finally {
      await local.close();
    }
  });
});

describe('Redis down', () => {
  it('readiness rides through a short outage, then says degraded; reads are served from Postgres, writes refused', async () => {
    const redis = await startRedisServer();
    const capture = captureLogger();
    const local = await startLocal(
      await createServer(testConfig(ctx, { KEYLANE_REDIS_URL: redis.url, KEYLANE_READY_GRACE_MS: '1500' }), {
        logger: capture.logger,
        processMetrics: false,
      }),
    );
    const call = (method: string, url: string, payload?: unknown) =>
      http(local).call(payload === undefined ? { method, url } : { method, url, payload });
    try {
      expect((await call('GET', '/healthz/ready')).statusCode).toBe(200);
      expect((await call('PUT', '/v1/items/31', { value: 'kept' })).statusCode).toBe(200);
      await redis.stop();
      await new Promise((resolve) => setTimeout(resolve, 600));
      // Within the grace: still ready (a Redis restart must not empty every caller's routing),
      // though the body says what is down.
      const early = await call('GET', '/healthz/ready');
      expect(early.statusCode).toBe(200);
      expect(early.json()).toMatchObject({ ready: true, degraded: false, redis: false, postgres: true });
      // Reads are served from Postgres; writes are refused before the DB (nothing committed).
      expect((await call('GET', '/v1/items/31')).json()).toMatchObject({ value: 'kept' });
      expectError(await call('PUT', '/v1/items/31', { value: 1 }), 'unavailable');
      await new Promise((resolve) => setTimeout(resolve, 1_200));
      const late = await call('GET', '/healthz/ready');
      expectError(late, 'unavailable');
      expect(late.json()).toMatchObject({ ready: false, degraded: true, redis: false, postgres: true });
      expect(late.json().error.message).toMatch(/redis unreachable for \d+ ms; serving what it can/);
      expect(capture.lines.filter((l) => l.msg === 'redis unreachable')).toHaveLength(1);
      await redis.start();
      for (let i = 0; i < 100 && (await call('GET', '/healthz/ready')).statusCode !== 200; i++) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      expect((await call('GET', '/healthz/ready')).json()).toMatchObject({ ready: true, redis: true });
      expect(capture.lines.find((l) => l.msg === 'redis reachable again')?.['downMs']).toBeGreaterThan(1_000);
    } finally {
      await local.close();
      await redis.stop();
    }
  });
});

describe('draining', () => {
  it('readiness turns 503 at once while the items API still serves', async () => {
    const local = await startLocal(
      await createServer(testConfig(ctx, { KEYLANE_DRAIN_MS: '400' }), {
        logger: captureLogger().logger,
        processMetrics: false,
      }),
    );
    const done = local.shutdown('test');
    const ready = await http(local).call({ method: 'GET', url: '/healthz/ready' });
    expectError(ready, 'unavailable');
    expect(ready.json()).toMatchObject({ draining: true, ready: false });
    const put = await http(local).call({
      method: 'PUT',
      url: '/v1/items/4040',
      payload: { value: 'during drain' },
    });
    expect(put.statusCode).toBe(200);
    expect(await done).toMatchObject({ clean: true });
    expect(local.state).toBe('closed');
  });
});

describe('the shutdown grace', () => {
  it('drops what is still running when the grace runs out, reports it unclean, and acknowledges nothing it did not commit', async () => {
    const local = await startLocal(
      await createServer(
        testConfig(ctx, {
          KEYLANE_SHUTDOWN_GRACE_MS: '200',
          KEYLANE_ALLOW_CHAOS: '1',
          KEYLANE_CHAOS_WRITE_DELAY_MS: '1500',
        }),
        { logger: captureLogger().logger, processMetrics: false },
      ),
    );
    const slow = http(local)
      .call({ method: 'PUT', url: '/v1/items/6060', payload: { value: 'slow' } })
      .then(
        (r) => r.statusCode,
        (err: { code?: string }) => err.code ?? 'error',
      );
    await new Promise((resolve) => setTimeout(resolve, 100));
    const outcome = await local.shutdown('test');
    expect(outcome.clean).toBe(false);
    // The client got no answer at all, not a 200 for a write that might not be there.
    expect(await slow).not.toBe(200);
    // The lane job itself still finishes while the engine drains.
    await local.engine.close();
  });
});

describe('the registry', () => {
  // Read from this file's text rather than gathered while the tests above run, so the check
  // holds whatever jest runs, in whatever order (`-t`, a retried test, a reordered file): each
  // `expectError` call is itself the test that a real request produced its code.
  it('every error code of the protocol registry was answered by some request in this file', () => {
    const seen = codesExpectedIn(readFileSync(fileURLToPath(import.meta.url), 'utf8'));
    expect([...seen].sort()).toEqual(Object.keys(ERROR_CODES).sort());
  });
});

/** The code literal each `expectError(...)` call ends with, its arguments read to the closing parenthesis. */
function codesExpectedIn(source: string): Set<string> {
  const codes = new Set<string>();
  const call = 'expectError(';
  for (let at = source.indexOf(call); at !== -1; at = source.indexOf(call, at + call.length)) {
    let depth = 1;
    let end = at + call.length;
    for (; end < source.length && depth > 0; end++) {
      if (source[end] === '(') depth++;
      else if (source[end] === ')') depth--;
    }
    const code = /'([a-z_]+)',?\s*\)$/.exec(source.slice(at, end))?.[1];
    if (code !== undefined) codes.add(code);
  }
  return codes;
}
