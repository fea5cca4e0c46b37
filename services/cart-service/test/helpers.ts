import type { ChildProcess } from 'node:child_process';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { loadConfig, type ServiceConfig } from '@keylane/item-service';
import { startServiceBin, type ServiceProc, type TestContext } from '@keylane/harness';
import { pino, type Logger } from 'pino';
import { Agent, request } from 'undici';

/** The environment of one test instance: the context's schema and prefix, any free port. */
export function testEnv(ctx: TestContext, instanceId = 'cart-test'): Record<string, string> {
  return {
    KEYLANE_PORT: '0',
    KEYLANE_HOST: '127.0.0.1',
    KEYLANE_INSTANCE_ID: instanceId,
    KEYLANE_DATABASE_URL: ctx.databaseUrl,
    KEYLANE_DB_SCHEMA: ctx.schema,
    KEYLANE_REDIS_URL: ctx.redisUrl,
    KEYLANE_CACHE_PREFIX: ctx.prefix,
    KEYLANE_LANES: '4',
    KEYLANE_LOG_LEVEL: 'info',
    KEYLANE_DRAIN_MS: '0',
  };
}

export function testConfig(ctx: TestContext, overrides: Record<string, string> = {}): ServiceConfig {
  return loadConfig({ ...testEnv(ctx), ...overrides });
}

export interface LogLine {
  level: number;
  msg?: string;
  [field: string]: unknown;
}

/** A pino logger whose lines land in `lines`, parsed. */
export function captureLogger(level = 'info'): { logger: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const text of chunk.toString('utf8').split('\n')) if (text.trim() !== '') lines.push(JSON.parse(text) as LogLine);
      callback();
    },
  });
  return { logger: pino({ level }, stream), lines };
}

export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  body: unknown;
}

/** Real-socket requests; an object payload is sent as JSON, a string as given. */
export function httpClient(baseUrl: () => string) {
  const agent = new Agent({ keepAliveTimeout: 1_000 });
  return {
    async call(method: string, path: string, payload?: unknown, headers: Record<string, string> = {}): Promise<Answer> {
      const sent = { ...headers };
      let body: string | undefined;
      if (typeof payload === 'string') body = payload;
      else if (payload !== undefined) {
        body = JSON.stringify(payload);
        sent['content-type'] ??= 'application/json';
      }
      const r = await request(`${baseUrl()}${path}`, { method, headers: sent, dispatcher: agent, ...(body === undefined ? {} : { body }) });
      const text = await r.body.text();
      let parsed: unknown;
      try {
        parsed = text === '' ? undefined : JSON.parse(text);
      } catch {
        parsed = undefined;
      }
      return { status: r.statusCode, headers: r.headers, text, body: parsed };
    },
    close: () => agent.close(),
  };
}

/** A digest of both tables: equal digests mean not one row changed. */
export async function tablesDigest(ctx: TestContext): Promise<string> {
  const { rows } = await ctx.pg.query<{ d: string }>(
    `SELECT coalesce((SELECT md5(string_agg(id || ':' || owner || ':' || version || ':' || updated_at, ',' ORDER BY id)) FROM "${ctx.schema}".carts), 'none')
         || '/' || coalesce((SELECT md5(string_agg(cart_id || ':' || sku || ':' || qty || ':' || price_cents, ',' ORDER BY cart_id, sku)) FROM "${ctx.schema}".cart_lines), 'none') AS d`,
  );
  return rows[0]!.d;
}

/** The built bin (the `test` task builds first under turbo). */
export const BIN = fileURLToPath(new URL('../dist/bin.js', import.meta.url));

/** The bin as a real process; `url` resolves with its `listening` line. Pushed onto `children` for cleanup. */
export function startBin(env: Record<string, string>, children: ChildProcess[]): ServiceProc {
  const proc = startServiceBin(BIN, env);
  children.push(proc.child);
  return proc;
}
