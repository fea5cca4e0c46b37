import { Agent, request } from 'undici';
import { Writable } from 'node:stream';
import type { TestContext } from '@keylane/harness';
import { pino, type Logger } from 'pino';
import { loadConfig, type ServiceConfig } from '../src/config.js';

/** A config pointing at a test context's schema and key prefix, on 127.0.0.1 and a free port. */
export function testConfig(
  ctx: TestContext,
  overrides: Record<string, string> = {},
): ServiceConfig {
  return loadConfig({ ...testEnv(ctx), ...overrides });
}

export function testEnv(ctx: TestContext): Record<string, string> {
  return {
    KEYLANE_PORT: '0',
    KEYLANE_HOST: '127.0.0.1',
    KEYLANE_INSTANCE_ID: 'test-instance',
    KEYLANE_DATABASE_URL: ctx.databaseUrl,
    KEYLANE_DB_SCHEMA: ctx.schema,
    KEYLANE_REDIS_URL: ctx.redisUrl,
    KEYLANE_CACHE_PREFIX: ctx.prefix,
    KEYLANE_LANES: '4',
    KEYLANE_LOG_LEVEL: 'info',
    KEYLANE_DRAIN_MS: '0',
  };
}

export interface LogLine {
  level: number;
  msg?: string;
  [field: string]: unknown;
}

/** A pino logger whose lines land in `lines`, parsed: tests assert on levels and fields. */
export function captureLogger(level = 'info'): { logger: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const text of chunk.toString('utf8').split('\n')) {
        if (text.trim() !== '') lines.push(JSON.parse(text) as LogLine);
      }
      callback();
    },
  });
  return { logger: pino({ level }, stream), lines };
}

export async function rowCount(ctx: TestContext): Promise<number> {
  const { rows } = await ctx.pg.query<{ n: string }>(
    `SELECT count(*)::text AS n FROM "${ctx.schema}".items`,
  );
  return Number(rows[0]!.n);
}

/** A digest of the whole items table: equal digests mean not one row changed. */
export async function tableDigest(ctx: TestContext): Promise<string> {
  const { rows } = await ctx.pg.query<{ d: string | null }>(
    `SELECT md5(string_agg(id::text || ':' || version::text || ':' || value::text, ',' ORDER BY id)) AS d
       FROM "${ctx.schema}".items`,
  );
  return rows[0]!.d ?? 'empty';
}

export interface HttpAnswer {
  statusCode: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  // `any` on purpose: tests read many answer shapes and jest's matchers check them at run time;
  // typing each one would add casts, not safety.
  json(): any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

export interface HttpRequest {
  method: string;
  url: string;
  /** An object is sent as JSON with its content type; a string as given. */
  payload?: unknown;
  headers?: Record<string, string>;
}

/**
 * Requests over a real socket (Fastify's inject needs an ESM-only dependency that jest's
 * CommonJS loader cannot require on Node 20). One agent per suite, closed in afterAll.
 */
export function httpClient(baseUrl: () => string): {
  call(req: HttpRequest): Promise<HttpAnswer>;
  close(): Promise<void>;
} {
  const agent = new Agent({ keepAliveTimeout: 1_000 });
  return {
    async call({ method, url, payload, headers = {} }) {
      let body: string | undefined;
      const sent = { ...headers };
      if (typeof payload === 'string') body = payload;
      else if (payload !== undefined) {
        body = JSON.stringify(payload);
        sent['content-type'] ??= 'application/json';
      }
      const response = await request(`${baseUrl()}${url}`, {
        method,
        headers: sent,
        dispatcher: agent,
        ...(body === undefined ? {} : { body }),
      });
      const text = await response.body.text();
      return {
        statusCode: response.statusCode,
        headers: response.headers,
        body: text,
        // JSON.parse returns any, passed on as the `any` declared above (same reason).
        // eslint-disable-next-line @typescript-eslint/no-unsafe-return
        json: () => JSON.parse(text),
      };
    },
    close: () => agent.close(),
  };
}
