import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createTestContext, startServiceBin, type ServiceProc, type TestContext } from '@keylane/harness';
import { Agent, request } from 'undici';
import { EXIT_BAD_CONFIG, EXIT_FORCED, EXIT_START_FAILED } from '../src/main.js';
import { testEnv } from './helpers.js';

/**
 * The built bin as a real process (the `test` task builds first under turbo): refusing a
 * bad environment, coming up ready, and a SIGTERM while a client keeps writing.
 */

const BIN = fileURLToPath(new URL('../dist/bin.js', import.meta.url));

const children: ChildProcess[] = [];

function start(env: Record<string, string>): ServiceProc {
  const proc = startServiceBin(BIN, env);
  children.push(proc.child);
  return proc;
}

let ctx: TestContext;

beforeAll(async () => {
  if (!existsSync(BIN))
    throw new Error(`${BIN} is missing: build first (turbo run test builds it)`);
  ctx = await createTestContext({ name: 'itemsvc_process' });
});

afterAll(async () => {
  for (const child of children)
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await ctx?.dispose();
});

describe('keylane-item-service', () => {
  it('starts with a shebang so it can run as a bin', async () => {
    const { readFile } = await import('node:fs/promises');
    expect((await readFile(BIN, 'utf8')).startsWith('#!/usr/bin/env node\n')).toBe(true);
  });

  it.each([
    ['KEYLANE_LANES', 'abc', 'expected an integer from 1 to 1024'],
    ['KEYLANE_STRATEGY', 'yolo', 'expected one of cache-aside'],
    ['KEYLANE_CHAOS_WRITE_DELAY_MS', '25', 'refused unless KEYLANE_ALLOW_CHAOS=1'],
  ])('refuses %s=%s: non-zero exit, one line naming it', async (variable, value, allowed) => {
    const run = start({ ...testEnv(ctx), [variable]: value });
    const { code } = await run.exit;
    expect(code).toBe(EXIT_BAD_CONFIG);
    const lines = run.stderr
      .join('')
      .split('\n')
      .filter((l) => l !== '');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(`${variable}="${value}"`);
    expect(lines[0]).toContain(allowed);
    expect(run.stdout).toEqual([]);
  });

  it('with KEYLANE_DB_MIGRATE=0 and no items table, fails its start saying which migration to apply', async () => {
    const run = start({ ...testEnv(ctx), KEYLANE_DB_MIGRATE: '0', KEYLANE_DB_SCHEMA: `${ctx.schema}_unmigrated` });
    const { code } = await run.exit;
    expect(code).toBe(EXIT_START_FAILED);
    const fatal = run.stdout.map((l) => JSON.parse(l) as { level: number; msg: string; err?: { message: string } }).find((l) => l.level === 60);
    expect(fatal?.msg).toMatch(/could not start/);
    expect(fatal?.err?.message).toMatch(/does not exist; apply sql\/items.sql/);
  });

  it('serves, drains on SIGTERM (readiness 503 before the listener closes), loses no acknowledged write, exits 0', async () => {
    const drainMs = 1_500;
    const run = start({
      ...testEnv(ctx),
      KEYLANE_LANES: '2',
      KEYLANE_DRAIN_MS: String(drainMs),
      KEYLANE_SHUTDOWN_GRACE_MS: '10000',
      // Keeps writes in flight (queued in the two lanes) when the listener closes.
      KEYLANE_ALLOW_CHAOS: '1',
      KEYLANE_CHAOS_WRITE_DELAY_MS: '15',
    });
    const url = await run.url;
    const writers = new Agent({ connections: 8, keepAliveTimeout: 30_000 });
    const probes = new Agent({ pipelining: 0 });
    try {
      for (;;) {
        const ready = await request(`${url}/healthz/ready`, { dispatcher: probes }).catch(
          () => undefined,
        );
        if (ready) await ready.body.dump();
        if (ready?.statusCode === 200) break;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }

      let exited = false;
      void run.exit.then(() => {
        exited = true;
      });
      let sigtermAt = Infinity;
      const acked = new Map<string, { value: unknown; at: number }>();
      let nextId = 1;
      let refusedAt = Infinity;
      const failures: string[] = [];

      const writer = async (w: number): Promise<void> => {
        while (!exited) {
          const id = String(w * 1_000_000 + nextId++);
          const value = { writer: w, id };
          try {
            const r = await request(`${url}/v1/items/${id}`, {
              method: 'PUT',
              headers: { 'content-type': 'application/json' },
              body: JSON.stringify({ value }),
              dispatcher: writers,
            });
            const body = (await r.body.json()) as { version?: number };
            if (r.statusCode === 200) {
              expect(body).toEqual({ id, value, version: 1 });
              acked.set(id, { value, at: Date.now() });
            } else failures.push(`${r.statusCode}`);
          } catch (err) {
            const code = (err as { code?: string }).code ?? String(err);
            failures.push(code);
            if (code === 'ECONNREFUSED') refusedAt = Math.min(refusedAt, Date.now());
            await new Promise((resolve) => setTimeout(resolve, 20));
          }
        }
      };

      const readiness: { at: number; status: number | 'refused' }[] = [];
      const prober = async (): Promise<void> => {
        while (!exited) {
          try {
            const r = await request(`${url}/healthz/ready`, { dispatcher: probes });
            await r.body.dump();
            readiness.push({ at: Date.now(), status: r.statusCode });
          } catch {
            readiness.push({ at: Date.now(), status: 'refused' });
          }
          await new Promise((resolve) => setTimeout(resolve, 25));
        }
      };

      const load = [...Array.from({ length: 6 }, (_, w) => writer(w + 1)), prober()];
      await new Promise((resolve) => setTimeout(resolve, 500));
      sigtermAt = Date.now();
      run.child.kill('SIGTERM');
      const { code, signal } = await run.exit;
      await Promise.all(load);

      expect({ code, signal }).toEqual({ code: 0, signal: null });

      // Readiness went 503 right after the signal and stayed so while writes were still served.
      const first503 = readiness.find((p) => p.status === 503);
      expect(first503).toBeDefined();
      expect(first503!.at).toBeGreaterThanOrEqual(sigtermAt);
      expect(readiness.filter((p) => p.at < sigtermAt).every((p) => p.status === 200)).toBe(true);
      const firstRefused = readiness.find((p) => p.status === 'refused')?.at ?? Infinity;
      expect(first503!.at).toBeLessThan(Math.min(firstRefused, refusedAt));
      const servedWhileDraining = [...acked.values()].filter((a) => a.at > first503!.at).length;
      expect(servedWhileDraining).toBeGreaterThan(0);

      // Every write that got a 200 is in the database, exactly as acknowledged.
      expect(acked.size).toBeGreaterThan(20);
      const { rows } = await ctx.pg.query<{ id: string; value: unknown; version: string }>(
        `SELECT id::text AS id, value, version::text AS version FROM "${ctx.schema}".items WHERE id = ANY($1::bigint[])`,
        [[...acked.keys()]],
      );
      const stored = new Map(rows.map((r) => [r.id, r]));
      const missing = [...acked.entries()].filter(
        ([id, a]) => !isDeepStrictEqual(stored.get(id)?.value, a.value),
      );
      expect(missing).toEqual([]);

      // The log tells the story in order: listening, draining, closed (one line each).
      const messages = run.stdout.map((l) => (JSON.parse(l) as { msg: string }).msg);
      expect(messages.filter((m) => m === 'listening')).toHaveLength(1);
      const order = ['listening', 'draining: readiness answers 503, still serving', 'closed'].map(
        (m) => messages.indexOf(m),
      );
      expect(order.every((i) => i >= 0)).toBe(true);
      expect([...order].sort((a, b) => a - b)).toEqual(order);
      expect(failures.filter((f) => /^5\d\d$/.test(f))).toEqual([]);
    } finally {
      await writers.close();
      await probes.close();
    }
  }, 60_000);

  it('a second signal during the drain exits at once', async () => {
    const drainMs = 20_000;
    const run = start({ ...testEnv(ctx), KEYLANE_DRAIN_MS: String(drainMs) });
    await run.url;
    const sent = Date.now();
    run.child.kill('SIGTERM');
    await new Promise((resolve) => setTimeout(resolve, 200));
    run.child.kill('SIGINT');
    const { code, at } = await run.exit;
    expect(code).toBe(EXIT_FORCED);
    // Far sooner than the drain would have taken.
    expect(at - sent).toBeLessThan(drainMs / 2);
  }, 30_000);
});
