import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ERROR_CODES, isErrorBody, parseLongId, type ErrorCode } from '@keylane/protocol';
import { createTestContext, type TestContext } from '@keylane/harness';
import fc from 'fast-check';
import Fastify from 'fastify';
import { Agent, request } from 'undici';
import { createServer, type ItemService } from '../src/server.js';
import { captureLogger, rowCount, tableDigest, testConfig, type LogLine } from './helpers.js';

/**
 * At least 2,000 malformed requests over a real socket: each must get the expected 4xx
 * with a registry error body, nothing may be logged above info, the DB must not change
 * and the instance must stay ready.
 */

const BODY_LIMIT = 1024;
const RUNS = 2_000;

interface Hostile {
  kind: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string;
  /** Codes the answer may carry (one, except where the transport decides). */
  expect: readonly ErrorCode[];
}

function isValidId(segment: string): boolean {
  let decoded: string;
  try {
    decoded = decodeURIComponent(segment);
  } catch {
    return false;
  }
  try {
    parseLongId(decoded);
    return true;
  } catch {
    return false;
  }
}

// Characters that are legal in a request target and keep the path a path: no '?', '#', '/'.
const PATH_CHARS = fc.constantFrom(
  ..."0123456789-+eExX.abcdefzAZ_~!$&'()*,;=:@% ".split('').filter((c) => c !== ' '),
);
const segment = (maxLength: number) => fc.string({ unit: PATH_CHARS, minLength: 0, maxLength });
const validId = fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map(String);
const anyJson = fc.jsonValue({ maxDepth: 2 });

const badId: fc.Arbitrary<Hostile> = fc
  .record({
    method: fc.constantFrom('GET', 'PUT', 'DELETE'),
    id: fc.oneof(
      segment(24),
      fc.bigInt({ min: 2n ** 63n, max: 2n ** 70n }).map(String),
      fc.bigInt({ min: -(2n ** 70n), max: -(2n ** 63n) - 1n }).map(String),
      fc.integer({ min: 0, max: 9999 }).map((n) => `0${n}`),
      fc.double({ noNaN: true }).map(String),
    ),
    value: anyJson,
  })
  // '.' and '..' are dot segments, resolved before the request is sent (RFC 3986 5.2.4):
  // /v1/items/.. arrives as /v1/, which names no item at all.
  .filter(({ id }) => id !== '' && id !== '.' && id !== '..' && !isValidId(id))
  .map(({ method, id, value }) => ({
    kind: 'bad id',
    method,
    path: `/v1/items/${id}`,
    headers: method === 'PUT' ? { 'content-type': 'application/json' } : {},
    ...(method === 'PUT' ? { body: JSON.stringify({ value }) } : {}),
    expect: ['invalid_id'],
  }));

const wrongIfVersion = fc.oneof(
  fc.string().map((s) => JSON.stringify(s)),
  fc.integer({ min: -1e9, max: -1 }).map(String),
  fc
    .double({ noNaN: true, noDefaultInfinity: true })
    .filter((d) => !Number.isInteger(d))
    .map(String),
  fc.constantFrom('true', 'false', 'null', '[]', '{}', '[1]', '1e300', '9007199254740993'),
);

const badBody: fc.Arbitrary<Hostile> = fc
  .record({
    id: validId,
    contentType: fc.constantFrom(
      'application/json',
      'application/json; charset=utf-8',
      'text/plain',
      'application/xml',
      'application/x-www-form-urlencoded',
      undefined,
    ),
    body: fc.oneof(
      fc.string({ maxLength: 64 }),
      anyJson.map((v) => JSON.stringify(v)),
      fc
        .dictionary(
          fc.string({ maxLength: 8 }).filter((k) => k !== 'value' && k !== '__proto__'),
          anyJson,
          { maxKeys: 4 },
        )
        .map((o) => JSON.stringify(o)),
      fc
        .tuple(anyJson, wrongIfVersion)
        .map(([v, iv]) => `{"value":${JSON.stringify(v)},"ifVersion":${iv}}`),
      fc
        .tuple(
          anyJson,
          fc
            .string({ minLength: 1, maxLength: 8 })
            .filter((k) => k !== 'value' && k !== 'ifVersion' && k !== '__proto__'),
        )
        .map(([v, k]) => JSON.stringify({ value: v, [k]: 1 })),
      fc.constant('{"value":1,"__proto__":{"polluted":true}}'),
      fc.constant('{"value":1,"constructor":{"prototype":{"polluted":true}}}'),
    ),
  })
  .filter(
    ({ contentType, body }) =>
      !(contentType?.startsWith('application/json') && isValidPutBody(body)),
  )
  .map(({ id, contentType, body }) => ({
    kind: 'bad body',
    method: 'PUT',
    path: `/v1/items/${id}`,
    headers: contentType === undefined ? {} : { 'content-type': contentType },
    body,
    expect: ['invalid_body'],
  }));

function isValidPutBody(text: string): boolean {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return false;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return false;
  const keys = Object.keys(parsed);
  if (!keys.includes('value') || keys.some((k) => k !== 'value' && k !== 'ifVersion')) return false;
  const { ifVersion } = parsed as { ifVersion?: unknown };
  return ifVersion === undefined || (Number.isSafeInteger(ifVersion) && (ifVersion as number) >= 0);
}

const oversize: fc.Arbitrary<Hostile> = fc
  .record({ id: validId, size: fc.integer({ min: BODY_LIMIT + 1, max: BODY_LIMIT * 4 }) })
  .map(({ id, size }) => ({
    kind: 'oversize body',
    method: 'PUT',
    path: `/v1/items/${id}`,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ value: 'x'.repeat(size) }),
    expect: ['payload_too_large'],
  }));

const KNOWN = new Set(['GET /healthz/live', 'GET /healthz/ready', 'GET /metrics']);
const unknownRoute: fc.Arbitrary<Hostile> = fc
  .record({
    method: fc.constantFrom('GET', 'PUT', 'DELETE', 'POST', 'PATCH', 'OPTIONS'),
    path: fc.oneof(
      fc.array(segment(12), { minLength: 0, maxLength: 4 }).map((parts) => `/${parts.join('/')}`),
      fc.constantFrom(
        '/v1/items',
        '/v1/items/',
        '/healthz',
        '/healthz/',
        '/metrics/',
        '/v1',
        '/V1/items/1',
      ),
      validId.map((id) => `/v1/items/${id}/x`),
      validId.map((id) => `/v2/items/${id}`),
    ),
  })
  .filter(
    ({ method, path }) => !KNOWN.has(`${method} ${path}`) && !/^\/v1\/items\/[^/]*$/.test(path),
  )
  .map(({ method, path }) => ({
    kind: 'unknown route',
    method,
    path,
    headers: {},
    expect: ['not_found'],
  }));

const wrongMethod: fc.Arbitrary<Hostile> = fc.oneof(
  fc
    .record({ method: fc.constantFrom('POST', 'PATCH', 'OPTIONS'), id: validId })
    .map(({ method, id }) => ({
      kind: 'wrong method',
      method,
      path: `/v1/items/${id}`,
      headers: {},
      expect: ['not_found'] as const,
    })),
  fc
    .record({
      method: fc.constantFrom('PUT', 'DELETE', 'POST', 'PATCH'),
      path: fc.constantFrom('/healthz/live', '/healthz/ready', '/metrics'),
    })
    .map(({ method, path }) => ({
      kind: 'wrong method',
      method,
      path,
      headers: {},
      expect: ['not_found'] as const,
    })),
);

// Up to 20,000 characters: past Node's 16 KiB head limit, where the HTTP parser answers.
const longUrl: fc.Arbitrary<Hostile> = fc
  .record({
    method: fc.constantFrom('GET', 'PUT', 'DELETE'),
    under: fc.boolean(),
    length: fc.integer({ min: 21, max: 20_000 }),
    char: fc.constantFrom('1', '9', 'a', '%41', '-'),
  })
  .map(({ method, under, length, char }) => {
    const long = char.repeat(Math.ceil(length / char.length));
    return {
      kind: 'long url',
      method,
      path: under ? `/v1/items/${long}` : `/files/${long}`,
      headers: {},
      // Items paths: invalid_id whether the router or the parser refuses it. Elsewhere: no
      // route (404), or over the head limit the request is too large (413).
      expect: under ? (['invalid_id'] as const) : (['not_found', 'payload_too_large'] as const),
    };
  });

// Counterexamples can be 20 KB URLs: print them short.
const hostile = fc.oneof(badId, badBody, oversize, unknownRoute, wrongMethod, longUrl).map((req) =>
  Object.assign(req, {
    [fc.toStringMethod]: () =>
      `${req.kind}: ${req.method} ${req.path.slice(0, 80)}${req.path.length > 80 ? `… (${req.path.length} chars)` : ''}` +
      ` ${JSON.stringify(req.headers)} ${req.body === undefined ? '' : req.body.slice(0, 80)}`,
  }),
);

/** The property: the answer is a registry error body whose code is one the input calls for. */
async function expectRegistryAnswer(base: string, req: Hostile): Promise<void> {
  const response = await request(`${base}${req.path}`, {
    method: req.method,
    headers: req.headers,
    dispatcher: agent,
    ...(req.body === undefined ? {} : { body: req.body }),
  });
  const text = await response.body.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new Error(`${response.statusCode} with a body that is not JSON: ${text.slice(0, 200)}`);
  }
  if (!isErrorBody(body))
    throw new Error(`${response.statusCode}, not an error body: ${text.slice(0, 200)}`);
  const { code } = body.error;
  if (response.statusCode !== ERROR_CODES[code].status) {
    throw new Error(`status ${response.statusCode} does not go with ${code}`);
  }
  if (!req.expect.includes(code)) {
    throw new Error(
      `${req.kind}: expected ${req.expect.join('|')}, got ${code} (${body.error.message})`,
    );
  }
}

let ctx: TestContext;
let service: ItemService;
let baseUrl = '';
let logs: LogLine[];
const agent = new Agent({ keepAliveTimeout: 1_000, connections: 4 });

beforeAll(async () => {
  ctx = await createTestContext({ name: 'itemsvc_hostile' });
  const capture = captureLogger('info');
  logs = capture.lines;
  service = await createServer(testConfig(ctx, { KEYLANE_MAX_BODY_BYTES: String(BODY_LIMIT) }), {
    logger: capture.logger,
    processMetrics: false,
  });
  baseUrl = await service.listen();
});

afterAll(async () => {
  await agent.close();
  await service?.close();
  await ctx?.dispose();
});

describe('hostile input over a real socket', () => {
  it(`${RUNS} malformed requests: each a registry 4xx, no 5xx, nothing logged above info, DB untouched`, async () => {
    // Some real rows, so "untouched" covers updates and deletes too, not just inserts.
    for (const id of ['1', '-1', '9223372036854775807']) {
      const r = await request(`${baseUrl}/v1/items/${id}`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ value: { seed: id } }),
        dispatcher: agent,
      });
      await r.body.dump();
      expect(r.statusCode).toBe(200);
    }
    const rowsBefore = await rowCount(ctx);
    const digestBefore = await tableDigest(ctx);
    const logsBefore = logs.length;
    const kinds = new Map<string, number>();

    await fc.assert(
      fc.asyncProperty(hostile, async (req) => {
        kinds.set(req.kind, (kinds.get(req.kind) ?? 0) + 1);
        await expectRegistryAnswer(baseUrl, req);
      }),
      { numRuns: RUNS },
    );

    expect(await rowCount(ctx)).toBe(rowsBefore);
    expect(await tableDigest(ctx)).toBe(digestBefore);
    const loud = logs.slice(logsBefore).filter((l) => l.level > 30);
    expect(loud).toEqual([]);
    // Every kind of hostility was actually sent, many times.
    expect([...kinds.keys()].sort()).toEqual([
      'bad body',
      'bad id',
      'long url',
      'oversize body',
      'unknown route',
      'wrong method',
    ]);
    for (const count of kinds.values()) expect(count).toBeGreaterThan(RUNS / 20);

    // The longest URLs went past Node's head limit and were answered by the parser hook.
    const parserRefusals = (
      await service.metrics.registry.getSingleMetric('keylane_http_client_errors_total')!.get()
    ).values;
    expect(
      parserRefusals.find((v) => v.labels['reason'] === 'header_overflow')?.value ?? 0,
    ).toBeGreaterThan(0);

    const ready = await request(`${baseUrl}/healthz/ready`, { dispatcher: agent });
    expect(ready.statusCode).toBe(200);
    expect(await ready.body.json()).toMatchObject({ ready: true });
    const item = await request(`${baseUrl}/v1/items/1`, { dispatcher: agent });
    expect(await item.body.json()).toEqual({ id: '1', value: { seed: '1' }, version: 1 });
  }, 90_000);

  it('the same harness fails a plain Fastify app over the same engine (the check has teeth)', async () => {
    // Same routes, same engine, Fastify's defaults: errors as {statusCode,error,message},
    // 414 for long params, 415, 500 for an InvalidKeyError thrown by the handler.
    const plain = Fastify();
    plain.get<{ Params: { id: string } }>('/v1/items/:id', (req) =>
      service.items.read(req.params.id),
    );
    plain.put<{ Params: { id: string }; Body: { value: unknown } }>('/v1/items/:id', (req) =>
      service.items.write(req.params.id, req.body.value),
    );
    plain.delete<{ Params: { id: string } }>('/v1/items/:id', (req) =>
      service.items.delete(req.params.id),
    );
    const plainUrl = await plain.listen({ port: 0, host: '127.0.0.1' });
    try {
      const result = await fc.check(
        fc.asyncProperty(hostile, (req) => expectRegistryAnswer(plainUrl, req)),
        { numRuns: 300 },
      );
      expect(result.failed).toBe(true);
    } finally {
      await plain.close();
    }
  });
});
