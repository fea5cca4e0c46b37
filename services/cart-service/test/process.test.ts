import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { EXIT_BAD_CONFIG } from '@keylane/item-service';
import { createTestContext, type TestContext } from '@keylane/harness';
import { Agent, request } from 'undici';
import { BIN, startBin, testEnv } from './helpers.js';

/** The built bin as a real process: a bad environment, and a SIGTERM while clients keep writing lines. */

const children: ChildProcess[] = [];
const start = (env: Record<string, string>) => startBin(env, children);

let ctx: TestContext;

beforeAll(async () => {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: build first (turbo run test builds it)`);
  ctx = await createTestContext({ name: 'cartsvc_process' });
});

afterAll(async () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await ctx?.dispose();
});

describe('keylane-cart-service', () => {
  it('refuses a bad variable with one line naming the program, exit 78', async () => {
    const run = start({ ...testEnv(ctx), KEYLANE_LANES: 'zero' });
    const { code } = await run.exit;
    expect(code).toBe(EXIT_BAD_CONFIG);
    expect(run.stderr.join('')).toBe(
      'keylane-cart-service: invalid configuration: KEYLANE_LANES="zero" is not allowed; expected an integer from 1 to 1024\n',
    );
  });

  it('drains on SIGTERM under load (readiness 503 while still serving), loses no acknowledged line write, exits 0', async () => {
    const run = start({
      ...testEnv(ctx),
      KEYLANE_LANES: '2',
      KEYLANE_DRAIN_MS: '1500',
      KEYLANE_SHUTDOWN_GRACE_MS: '10000',
      // Keeps writes queued in the two lanes when the listener closes.
      KEYLANE_ALLOW_CHAOS: '1',
      KEYLANE_CHAOS_WRITE_DELAY_MS: '15',
    });
    const url = await run.url;
    const writers = new Agent({ connections: 8, keepAliveTimeout: 30_000 });
    const probes = new Agent({ pipelining: 0 });
    try {
      let exited = false;
      void run.exit.then(() => {
        exited = true;
      });
      // cart id -> sku -> the qty last acknowledged
      const acked = new Map<string, Map<string, number>>();
      let ackedCount = 0;
      let ackedWhileDraining = 0;
      let first503 = Infinity;
      const failures: string[] = [];

      const writer = async (w: number): Promise<void> => {
        let n = 0;
        while (!exited) {
          n += 1;
          const id = String(w * 1_000 + (n % 5));
          const sku = `sku-${n % 3}`;
          const qty = 1 + (n % 50);
          try {
            const r = await request(`${url}/v1/carts/${id}/lines/${sku}`, {
              method: 'PUT',
              headers: { 'content-type': 'application/json' },
              body: JSON.stringify({ qty, priceCents: 250 }),
              dispatcher: writers,
            });
            const body = (await r.body.json()) as { lines?: { sku: string; qty: number }[] };
            if (r.statusCode === 200) {
              expect(body.lines?.find((l) => l.sku === sku)?.qty).toBe(qty);
              const lines = acked.get(id) ?? new Map<string, number>();
              lines.set(sku, qty);
              acked.set(id, lines);
              ackedCount += 1;
              if (Date.now() > first503) ackedWhileDraining += 1;
            } else failures.push(String(r.statusCode));
          } catch (err) {
            failures.push((err as { code?: string }).code ?? String(err));
            await new Promise((resolve) => setTimeout(resolve, 20));
          }
        }
      };
      const prober = async (): Promise<void> => {
        while (!exited) {
          try {
            const r = await request(`${url}/healthz/ready`, { dispatcher: probes });
            await r.body.dump();
            if (r.statusCode === 503) first503 = Math.min(first503, Date.now());
          } catch {
            // refused once the listener closed
          }
          await new Promise((resolve) => setTimeout(resolve, 25));
        }
      };

      const load = [...Array.from({ length: 6 }, (_, w) => writer(w + 1)), prober()];
      await new Promise((resolve) => setTimeout(resolve, 600));
      const sigtermAt = Date.now();
      run.child.kill('SIGTERM');
      const { code, signal } = await run.exit;
      await Promise.all(load);
      expect({ code, signal }).toEqual({ code: 0, signal: null });
      expect(first503).toBeGreaterThanOrEqual(sigtermAt);
      expect(ackedWhileDraining).toBeGreaterThan(0);
      expect(ackedCount).toBeGreaterThan(20);

      // Every acknowledged line is in cart_lines with the last acknowledged qty (each writer owns its carts).
      const { rows } = await ctx.pg.query<{ cart_id: string; sku: string; qty: number }>(
        `SELECT cart_id::text, sku, qty FROM "${ctx.schema}".cart_lines`,
      );
      const stored = new Map(rows.map((r) => [`${r.cart_id}/${r.sku}`, r.qty]));
      const lost = [...acked].flatMap(([id, lines]) => [...lines].filter(([sku, qty]) => stored.get(`${id}/${sku}`) !== qty).map(([sku]) => `${id}/${sku}`));
      expect(lost).toEqual([]);
      expect(failures.filter((f) => /^5\d\d$/.test(f))).toEqual([]);
      console.log(JSON.stringify({ ackedCount, ackedWhileDraining, carts: acked.size, transportFailuresAfterClose: failures.length }));
      const messages = run.stdout.map((l) => (JSON.parse(l) as { msg: string }).msg);
      const order = ['listening', 'draining: readiness answers 503, still serving', 'closed'].map((m) => messages.indexOf(m));
      expect(order.every((i) => i >= 0)).toBe(true);
      expect([...order].sort((a, b) => a - b)).toEqual(order);
    } finally {
      await writers.close();
      await probes.close();
    }
  }, 60_000);
});
