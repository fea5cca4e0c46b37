import { afterEach, describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { InvalidOptionsError } from '@keylane/protocol';
import { processAlive as alive } from '@keylane/harness';
import {
  InstanceStartError,
  startFleet,
  type Fleet,
  type FleetOptions,
} from '../../src/fleet/index.js';

const FAKE = fileURLToPath(new URL('./fixtures/fake-service.mjs', import.meta.url));

const base: FleetOptions = {
  count: 3,
  databaseUrl: 'postgres://unused@127.0.0.1/x',
  redisUrl: 'redis://127.0.0.1:1',
  schema: 'unused',
  prefix: 'unused',
  serviceBin: FAKE,
  stopGraceMs: 1_000,
};

function pidOf(line: string): number[] {
  const match = / pid (\d+)$/.exec(line);
  return match ? [Number(match[1])] : [];
}

async function ready(url: string): Promise<{ status: number; body: string }> {
  const res = await fetch(`${url}/healthz/ready`, { headers: { connection: 'close' } });
  return { status: res.status, body: await res.text() };
}

describe('startFleet (process management, against a stand-in service)', () => {
  let fleet: Fleet | undefined;
  afterEach(async () => {
    await fleet?.stop();
    fleet = undefined;
  });

  it('starts every instance with its own id and port and the shared configuration', async () => {
    fleet = await startFleet({ ...base, strategy: 'serial', schema: 'sch_a' });
    expect(fleet.instances.map((i) => i.id)).toEqual(['item-1', 'item-2', 'item-3']);
    expect(new Set(fleet.instances.map((i) => i.port)).size).toBe(3);
    for (const instance of fleet.instances) {
      expect(alive(instance.pid)).toBe(true);
      const { status, body } = await ready(instance.url);
      expect(status).toBe(200);
      expect(JSON.parse(body)).toEqual({ id: instance.id, strategy: 'serial', schema: 'sch_a' });
    }
  });

  it('reports an instance that dies at start with its output, and leaves no process behind', async () => {
    const pids: number[] = [];
    const err = await startFleet({
      ...base,
      env: { FAKE_MODE: 'exit' },
      onOutput: (_id, line) => pids.push(...pidOf(line)),
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InstanceStartError);
    const startError = err as InstanceStartError;
    expect(startError.code).toBe('instance_start_failed');
    expect(startError.instanceId).toBe('item-2');
    expect(startError.message).toContain('item-2 exited with code 3 before it was ready');
    expect(startError.message).toContain('cannot connect to the database (a made-up reason)');
    // The healthy ones had started (each prints its pid first thing), and were stopped.
    expect(new Set(pids).size).toBe(3);
    expect(pids.filter(alive)).toEqual([]);
  });

  it('gives up on an instance that never gets ready, naming the last answer, and stops the rest', async () => {
    const pids: number[] = [];
    const err = await startFleet({
      ...base,
      count: 2,
      readyTimeoutMs: 800,
      env: { FAKE_MODE: 'never-ready' },
      onOutput: (_id, line) => pids.push(...pidOf(line)),
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InstanceStartError);
    expect(new Set(pids).size).toBe(2);
    expect(pids.filter(alive)).toEqual([]);
    expect((err as Error).message).toMatch(
      /was not ready at http:\/\/127\.0\.0\.1:\d+ within 800 ms \(GET \/healthz\/ready answered 503\)/,
    );
  });

  it('stops an instance that ignores SIGTERM with SIGKILL after the grace', async () => {
    fleet = await startFleet({
      ...base,
      count: 1,
      env: { FAKE_MODE: 'ignore-term' },
      stopGraceMs: 300,
    });
    const pid = fleet.instances[0]!.pid;
    const started = Date.now();
    await fleet.stop();
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    expect(alive(pid)).toBe(false);
    expect(fleet.instances[0]!.running).toBe(false);
  });

  it('kills and restarts one instance on the same port while the others keep running', async () => {
    fleet = await startFleet(base);
    const victim = fleet.instance('item-2');
    const { port, pid: before } = victim;
    const othersBefore = [fleet.instance('item-1').pid, fleet.instance('item-3').pid];
    await fleet.kill('item-2', 'SIGKILL');
    expect(victim.running).toBe(false);
    expect(alive(before)).toBe(false);
    await expect(ready(victim.url)).rejects.toThrow();
    await fleet.restart('item-2');
    expect(victim.port).toBe(port);
    expect(victim.pid).not.toBe(before);
    expect((await ready(victim.url)).status).toBe(200);
    expect([fleet.instance('item-1').pid, fleet.instance('item-3').pid]).toEqual(othersBefore);
    expect(() => fleet!.instance('item-9')).toThrow(/no instance "item-9"/);
  });

  it('takes its instances down when the launching process dies of an uncaught exception', async () => {
    const script = fileURLToPath(new URL('./fixtures/crash-with-fleet.mjs', import.meta.url));
    const child = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const [code] = (await once(child, 'close')) as [number | null];
    expect(code).toBe(1);
    expect(stderr).toContain('boom');
    const pids = JSON.parse(stdout) as number[];
    expect(pids).toHaveLength(2);
    await new Promise((r) => setTimeout(r, 200)); // SIGKILL delivery is asynchronous
    expect(pids.filter(alive)).toEqual([]);
  });

  it('validates its options with messages that name the option', async () => {
    await expect(startFleet({ ...base, count: 0 })).rejects.toThrow(
      new InvalidOptionsError('count', 'must be an integer in [1, 64], got 0'),
    );
    await expect(startFleet({ ...base, count: 0 })).rejects.toMatchObject({
      code: 'invalid_options',
      option: 'count',
    });
    await expect(startFleet({ ...base, basePort: 65_535 })).rejects.toMatchObject({
      option: 'basePort',
    });
    await expect(startFleet({ ...base, schema: '' })).rejects.toThrow(
      'invalid option schema: must be a non-empty string',
    );
    await expect(startFleet({ ...base, chaos: { fillDelayMs: -1 } })).rejects.toThrow(
      /^invalid option chaos\.fillDelayMs: must be a non-negative integer, got -1$/,
    );
  });
});
