import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createClient } from '@keylane/sdk';
import {
  createTestContext,
  getFreePort,
  killAll,
  parseJsonLines,
  startProcess,
  stopProcess,
  waitHttpOk,
  type Proc,
  type TestContext,
} from '@keylane/harness';
import { EXIT_BAD_CONFIG } from '../src/main.js';

/**
 * The built caller as a real process against three real item-service processes: it routes
 * every key to one instance (the one every other SDK client picks too), spreads keys over
 * the fleet, and stops cleanly on SIGTERM.
 */

const CALLER_BIN = fileURLToPath(new URL('../dist/bin.js', import.meta.url));

function itemServiceBin(): string {
  const require = createRequire(import.meta.url);
  const manifestPath = require.resolve('@keylane/item-service/package.json');
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as {
    bin: Record<string, string>;
  };
  return resolve(dirname(manifestPath), manifest.bin['keylane-item-service']!);
}

let ctx: TestContext;
const fleet: Proc[] = [];
const urls: string[] = [];

beforeAll(async () => {
  for (const bin of [CALLER_BIN, itemServiceBin()]) {
    if (!existsSync(bin))
      throw new Error(`${bin} is missing: build first (turbo run test builds it)`);
  }
  ctx = await createTestContext({ name: 'example_caller' });
  for (let i = 1; i <= 3; i += 1) {
    const port = await getFreePort();
    const proc = startProcess(itemServiceBin(), {
      KEYLANE_PORT: String(port),
      KEYLANE_HOST: '127.0.0.1',
      KEYLANE_INSTANCE_ID: `item-${i}`,
      KEYLANE_DATABASE_URL: ctx.databaseUrl,
      KEYLANE_DB_SCHEMA: ctx.schema,
      KEYLANE_REDIS_URL: ctx.redisUrl,
      KEYLANE_CACHE_PREFIX: ctx.prefix,
      KEYLANE_LANES: '2',
      KEYLANE_DRAIN_MS: '0',
      KEYLANE_LOG_LEVEL: 'warn',
    });
    fleet.push(proc);
    urls.push(`http://127.0.0.1:${port}`);
  }
  await Promise.all(fleet.map((proc, i) => waitHttpOk(proc, `${urls[i]}/healthz/ready`)));
}, 60_000);

afterAll(async () => {
  await Promise.all(fleet.map((proc) => stopProcess(proc)));
  killAll();
  await ctx?.dispose();
});

describe('keylane-example-caller', () => {
  it('starts with a shebang so it can run as a bin', () => {
    expect(readFileSync(CALLER_BIN, 'utf8').startsWith('#!/usr/bin/env node\n')).toBe(true);
  });

  it('exits 78 with one line naming the variable when the fleet is not configured', async () => {
    const proc = startProcess(CALLER_BIN, {});
    const { code } = await proc.exit;
    expect(code).toBe(EXIT_BAD_CONFIG);
    const text = proc.stderr.join('');
    expect(text.trim().split('\n')).toHaveLength(1);
    expect(text).toContain('KEYLANE_INSTANCES');
  });

  it('writes and reads keys on the instance the SDK routes them to, then stops on SIGTERM', async () => {
    const caller = startProcess(CALLER_BIN, {
      KEYLANE_INSTANCES: urls.join(','),
      KEYLANE_CALLER_KEYS: '12',
      KEYLANE_CALLER_INTERVAL_MS: '200',
    });
    // A few seconds of rounds; generous slack for a loaded machine.
    const deadline = Date.now() + 20_000;
    while (
      Date.now() < deadline &&
      parseJsonLines(caller.lines).filter((l) => l['msg'] === 'served').length < 36
    ) {
      await sleep(200);
    }
    await sleep(1000);
    const exit = await stopProcess(caller);
    expect(exit).toEqual({ code: 0, signal: null });

    const lines = parseJsonLines(caller.lines);
    const served = lines.filter((l) => l['msg'] === 'served');
    expect(served.length).toBeGreaterThanOrEqual(36);
    // With one writer, every read returns the write just made.
    expect(served.every((l) => l['read'] === 'own-write')).toBe(true);

    // Each key stayed on one instance, and it is the instance an independent client picks.
    const owner = new Map<number, string>();
    for (const line of served) {
      const key = line['key'] as number;
      expect(owner.get(key) ?? line['instance']).toBe(line['instance']);
      owner.set(key, line['instance'] as string);
    }
    const other = createClient({ instances: urls });
    try {
      await other.ready();
      for (const [key, instance] of owner)
        expect(other.getServiceConnection(key).instanceId).toBe(instance);
    } finally {
      await other.close();
    }
    // Twelve keys over three instances: more than one instance serves.
    expect(new Set(owner.values()).size).toBeGreaterThan(1);

    const stopped = lines.find((l) => l['msg'] === 'stopped');
    expect(stopped).toMatchObject({ failures: {} });
    expect(stopped!['served']).toBe(served.length);
  }, 45_000);

  it('finds the fleet through DNS (localhost resolves to the instance on 127.0.0.1)', async () => {
    const port = new URL(urls[0]!).port;
    const caller = startProcess(CALLER_BIN, {
      KEYLANE_DNS_NAME: 'localhost',
      KEYLANE_DNS_PORT: port,
      KEYLANE_DNS_REFRESH_MS: '500',
      KEYLANE_CALLER_KEYS: '4',
      KEYLANE_CALLER_INTERVAL_MS: '100',
    });
    const served = (): Array<Record<string, unknown>> =>
      parseJsonLines(caller.lines).filter((l) => l['msg'] === 'served');
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline && served().length < 8) await sleep(100);
    expect(await stopProcess(caller)).toEqual({ code: 0, signal: null });
    const lines = parseJsonLines(caller.lines);
    // Ids are address:port; only the loopback addresses localhost may resolve to.
    const changed = lines.find((l) => l['msg'] === 'instances changed');
    expect(changed?.['instances']).toEqual(expect.arrayContaining([`127.0.0.1:${port}`]));
    expect(served().length).toBeGreaterThanOrEqual(8);
    for (const line of served())
      expect([`127.0.0.1:${port}`, `[::1]:${port}`]).toContain(line['instance']);
  }, 30_000);

  it('logs failures by code and keeps going when an instance goes away', async () => {
    const caller = startProcess(CALLER_BIN, {
      KEYLANE_INSTANCES: urls.join(','),
      KEYLANE_CALLER_KEYS: '12',
      KEYLANE_CALLER_INTERVAL_MS: '100',
    });
    const servedCount = (): number =>
      parseJsonLines(caller.lines).filter((l) => l['msg'] === 'served').length;
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline && servedCount() < 12) await sleep(100);
    // A crash, not a drain: requests in flight to item-3 fail and the SDK moves its keys.
    fleet[2]!.child.kill('SIGKILL');
    await fleet[2]!.exit;
    const before = servedCount();
    while (Date.now() < deadline && servedCount() < before + 36) await sleep(100);
    const exit = await stopProcess(caller);
    expect(exit.code).toBe(0);

    const lines = parseJsonLines(caller.lines);
    const after = lines.filter((l) => l['msg'] === 'served').slice(before + 12);
    expect(after.length).toBeGreaterThanOrEqual(12);
    expect(after.every((l) => l['instance'] !== urls[2])).toBe(true);
    // Every failure was logged with its stable code.
    for (const line of lines.filter((l) => l['msg'] === 'request failed')) {
      expect(['connection_failed', 'request_timeout', 'unavailable', 'service_error']).toContain(
        line['code'],
      );
    }
  }, 45_000);
});
