import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createScratchNames, dropScratch, type ScratchSpace } from '@keylane/harness';
import { startFleet, type Fleet } from '../src/fleet/index.js';
import { createClient, type KeylaneClient } from '@keylane/sdk';
import { TEST_DATABASE_URL, TEST_REDIS_URL, startRedisServer, startTcpProxy } from '@keylane/harness';
import { variableOf } from '@keylane/item-service/config';
import { effectOf, isErrorCode } from '@keylane/protocol';
import pg from 'pg';
import { Pool } from 'undici';

/**
 * What a caller sees when the fleet misbehaves, on real item-service processes, each beside a
 * contrast that fails in the same harness. What committed is read from an audit table filled
 * by a deferred trigger at each commit, not from the engine's own counters.
 */
const databaseUrl = TEST_DATABASE_URL;
const redisUrl = TEST_REDIS_URL;

let space: ScratchSpace;
let fleet: Fleet;
let db: pg.Pool;

beforeAll(async () => {
  space = createScratchNames('failsem', 'cli');
  fleet = await startFleet({ count: 2, databaseUrl, redisUrl, ...space, lanes: 2 });
  db = new pg.Pool({ connectionString: databaseUrl, max: 2 });
  // Every committed write of an item, stamped as its transaction commits.
  await db.query(`
    CREATE TABLE "${space.schema}".audit (id bigint, value jsonb, committed_at timestamptz);
    CREATE FUNCTION "${space.schema}".audit_commit() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN INSERT INTO "${space.schema}".audit VALUES (NEW.id, NEW.value, clock_timestamp()); RETURN NULL; END $$;
    CREATE CONSTRAINT TRIGGER audit_commit AFTER INSERT OR UPDATE ON "${space.schema}".items
      DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION "${space.schema}".audit_commit()`);
}, 60_000);

afterAll(async () => {
  await fleet?.stop();
  await db?.end();
  await dropScratch(databaseUrl, redisUrl, space).catch(() => undefined);
});

function sdk(
  options: { requestTimeoutMs?: number; requestFailureThreshold?: number; connections?: number } = {},
  of: Fleet = fleet,
): KeylaneClient {
  return createClient({
    instances: of.instances.map((i) => ({ id: i.id, url: i.url })),
    healthCheck: { intervalMs: 100, timeoutMs: 1_000, unhealthyThreshold: 2, ...(options.requestFailureThreshold ? { requestFailureThreshold: options.requestFailureThreshold } : {}) },
    requestTimeoutMs: options.requestTimeoutMs ?? 1_000,
    connectionsPerInstance: options.connections ?? 16,
  });
}

/** A caller that does not send deadlines (curl, a proxy, an older SDK): the contrast. */
async function putWithoutDeadline(pool: Pool, id: bigint, value: unknown, timeoutMs: number): Promise<'ok' | 'timeout' | number> {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), timeoutMs);
  try {
    const r = await pool.request({
      method: 'PUT',
      path: `/v1/items/${id}`,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ value }),
      signal: abort.signal,
    });
    await r.body.dump();
    return r.statusCode === 200 ? 'ok' : r.statusCode;
  } catch {
    return 'timeout';
  } finally {
    clearTimeout(timer);
  }
}

const stored = async (id: bigint): Promise<unknown> =>
  (await db.query<{ value: unknown }>(`SELECT value FROM "${space.schema}".items WHERE id = $1`, [String(id)])).rows[0]?.value;

const commitsAfter = async (id: bigint, values: readonly string[], after: Date): Promise<number> =>
  Number(
    (
      await db.query<{ n: string }>(
        `SELECT count(*)::text AS n FROM "${space.schema}".audit WHERE id = $1 AND value #>> '{}' = ANY($2) AND committed_at > $3`,
        [String(id), values, after],
      )
    ).rows[0]!.n,
  );

function keyOwnedBy(client: KeylaneClient, instanceId: string, from: bigint): bigint {
  for (let k = from; ; k++) if (client.getServiceConnection(k).instanceId === instanceId) return k;
}

describe('zombie writes: a write the caller was told timed out never lands later', () => {
  it('SIGSTOP the owner: the timed-out write does not overtake the acknowledged one (and does without deadlines)', async () => {
    const client = sdk();
    await client.ready();
    try {
      const run = async (key: bigint, timedOutWrite: (value: string) => Promise<unknown>) => {
        await fleet.kill('item-1', 'SIGSTOP');
        try {
          const first = await timedOutWrite('a');
          // The probes take item-1 out; the next write goes to item-2 and is acknowledged.
          for (let i = 0; i < 100 && client.healthyInstances().includes('item-1'); i++) await sleep(50);
          expect(client.healthyInstances()).toEqual(['item-2']);
          expect((await client.put(key, 'b')).value).toBe('b');
          return first;
        } finally {
          await fleet.kill('item-1', 'SIGCONT');
          // Back in the fleet before the next round.
          for (let i = 0; i < 100 && !client.healthyInstances().includes('item-1'); i++) await sleep(50);
          await sleep(800); // whatever item-1 held in its socket buffer has run by now
        }
      };
      const guarded = keyOwnedBy(client, 'item-1', 1_000n);
      const first = await run(guarded, (value) => client.put(guarded, value).catch((err: { code: string }) => err.code));
      expect(first).toBe('request_timeout');
      expect(await stored(guarded)).toBe('b');

      // The same with a caller that sends no deadline: its abandoned write lands over 'b'.
      const plain = new Pool(fleet.instance('item-1').url);
      const unguarded = keyOwnedBy(client, 'item-1', guarded + 1n);
      try {
        expect(await run(unguarded, (value) => putWithoutDeadline(plain, unguarded, value, 1_000))).toBe('timeout');
        expect(await stored(unguarded)).toBe('a');
      } finally {
        await plain.close();
      }
    } finally {
      await client.close();
    }
  }, 60_000);

  it('1,500 writes queued on one key: none commits after its caller was answered request_timeout', async () => {
    const client = sdk({ requestTimeoutMs: 1_000, connections: 128 });
    await client.ready();
    const key = 5_000n;
    try {
      const answered = new Map<string, number>();
      const outcomes: Record<string, number> = {};
      await Promise.all(
        Array.from({ length: 1_500 }, (_, i) =>
          client.put(key, `w${i}`).then(
            () => ((outcomes['ok'] = (outcomes['ok'] ?? 0) + 1), undefined),
            (err: { code: string }) => {
              outcomes[err.code] = (outcomes[err.code] ?? 0) + 1;
              if (err.code === 'request_timeout') answered.set(`w${i}`, Date.now());
            },
          ),
        ),
      );
      const final = await client.put(key, 'final');
      const finalAt = new Date();
      await sleep(2_500);
      // Audit: a timed-out write committed after its caller heard "timeout".
      const timedOut = [...answered.keys()];
      let late = 0;
      for (const [value, at] of answered) late += await commitsAfter(key, [value], new Date(at));
      expect(late).toBe(0);
      expect(await commitsAfter(key, timedOut, finalAt)).toBe(0);
      expect(await stored(key)).toBe(final.value);
      // The overload was answered as such, not left to time out.
      expect(outcomes['overloaded'] ?? 0).toBeGreaterThan(0);
      if (process.env['KEYLANE_VERBOSE']) console.log(JSON.stringify(outcomes));
    } finally {
      await client.close();
    }
  }, 60_000);
});

describe('Postgres connections reset at random during writes', () => {
  // Group commit off first: the figures are each write's own transaction under the cuts. With
  // it on, a cut ends a whole group's transaction (and the audit trigger holds its COMMIT 15 ms
  // per member), so few writes get through; what must not change is that no answer lies.
  it.each([false, true])('every write reported "nothing committed" did not commit; every commit was reported committed or unknown (group commit: %s)', async (groupCommit) => {
    const target = new URL(databaseUrl);
    const proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
    const resetSpace = createScratchNames('resets', 'cli');
    let resetFleet: Fleet | undefined;
    try {
      resetFleet = await startFleet({ count: 2, databaseUrl: proxy.via(databaseUrl), redisUrl, ...resetSpace, lanes: 2, env: { KEYLANE_GROUP_COMMIT: groupCommit ? '1' : '0' } });
      // The audit trigger also holds each COMMIT 15 ms: resets land inside COMMITs often
      // enough to see what an unknown outcome is.
      await db.query(`
        CREATE TABLE "${resetSpace.schema}".audit (id bigint, value jsonb);
        CREATE FUNCTION "${resetSpace.schema}".audit_commit() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN PERFORM pg_sleep(0.015); INSERT INTO "${resetSpace.schema}".audit VALUES (NEW.id, NEW.value); RETURN NULL; END $$;
        CREATE CONSTRAINT TRIGGER audit_commit AFTER INSERT OR UPDATE ON "${resetSpace.schema}".items
          DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION "${resetSpace.schema}".audit_commit()`);
      const client = createClient({
        instances: resetFleet.instances.map((i) => ({ id: i.id, url: i.url })),
        healthCheck: { intervalMs: 200, timeoutMs: 1000 },
        requestTimeoutMs: 2_000,
      });
      await client.ready();
      const reported = new Map<string, 'ok' | 'none' | 'unknown'>();
      let stop = false;
      const cutter = (async () => {
        while (!stop) {
          await sleep(25);
          proxy.cutOne();
        }
      })();
      await Promise.all(
        Array.from({ length: 8 }, async (_, writer) => {
          for (let n = 0; n < 60; n++) {
            const value = `w${writer}:${n}`;
            try {
              await client.put(BigInt(40_000 + (n % 5)), value);
              reported.set(value, 'ok');
            } catch (err) {
              const code = (err as { code?: string; serviceCode?: unknown }).code;
              const wire = code === 'service_error' ? (err as { serviceCode?: unknown }).serviceCode : code;
              // No effect: a registry code that says so, or a connection that never carried it.
              const none =
                (isErrorCode(wire) && effectOf(wire) !== 'unknown') ||
                (code === 'connection_failed' && (err as { sent?: boolean }).sent === false) ||
                code === 'no_healthy_instance';
              reported.set(value, none ? 'none' : 'unknown');
            }
          }
        }),
      );
      stop = true;
      await cutter;
      await client.close();
      await sleep(500);
      const committed = new Set(
        (await db.query<{ v: string }>(`SELECT value #>> '{}' AS v FROM "${resetSpace.schema}".audit`)).rows.map((r) => r.v),
      );
      const lies: string[] = [];
      for (const [value, said] of reported) {
        if (said === 'ok' && !committed.has(value)) lies.push(`${value}: acknowledged, not committed`);
        if (said === 'none' && committed.has(value)) lies.push(`${value}: "nothing committed", but committed`);
      }
      for (const value of committed) if (!reported.has(value)) lies.push(`${value}: committed, never reported`);
      const count = (said: string) => [...reported.values()].filter((v) => v === said).length;
      const unknownCommitted = [...reported].filter(([v, said]) => said === 'unknown' && committed.has(v)).length;
      if (process.env['KEYLANE_VERBOSE']) {
        console.log(JSON.stringify({ ok: count('ok'), none: count('none'), unknown: count('unknown'), unknownCommitted }));
      }
      expect(lies).toEqual([]);
      // The contrast: writes cut during COMMIT that did commit. Reporting them as "nothing
      // committed" (one code for every broken connection) would have been that many lies.
      expect(unknownCommitted).toBeGreaterThan(0);
      // It did meet the faults: some writes failed and some were acknowledged.
      if (!groupCommit) expect(count('ok')).toBeGreaterThan(50);
      expect(count('none') + count('unknown')).toBeGreaterThan(0);
    } finally {
      await resetFleet?.stop();
      await proxy.close();
      await dropScratch(databaseUrl, redisUrl, resetSpace).catch(() => undefined);
    }
  }, 120_000);
});

describe('dependency blips do not empty the fleet', () => {
  it('Redis restarted 10 times under load: reads keep answering, writes are refused only around the restarts; Postgres stopped: hits keep answering', async () => {
    const redis = await startRedisServer();
    const target = new URL(databaseUrl);
    const postgres = await startTcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
    const blipSpace = createScratchNames('blips', 'cli');
    let blipFleet: Fleet | undefined;
    try {
      blipFleet = await startFleet({
        count: 2,
        databaseUrl: postgres.via(databaseUrl),
        redisUrl: redis.url,
        ...blipSpace,
        lanes: 2,
        // Fills wait a marker's life after each Redis restart: a short one keeps the test short.
        env: { KEYLANE_READY_GRACE_MS: '2000', KEYLANE_MARKER_TTL_MS: '1500' },
      });
      const client = createClient({
        instances: blipFleet.instances.map((i) => ({ id: i.id, url: i.url })),
        healthCheck: { intervalMs: 100, timeoutMs: 1_000 },
        requestTimeoutMs: 2_000,
      });
      await client.ready();
      const keys = Array.from({ length: 20 }, (_, i) => BigInt(60_000 + i));
      for (const key of keys) await client.put(key, 'seed');
      const failures = { reads: new Map<string, number>(), writes: [] as { at: number; code: string }[] };
      const down: [number, number][] = [];
      let stop = false;
      const load = Promise.all([
        ...Array.from({ length: 6 }, async (_, r) => {
          for (let n = 0; !stop; n++) {
            await client.get(keys[(r * 7 + n) % keys.length]!).catch((err: { code: string }) => {
              failures.reads.set(err.code, (failures.reads.get(err.code) ?? 0) + 1);
            });
          }
        }),
        ...Array.from({ length: 2 }, async (_, w) => {
          for (let n = 0; !stop; n++) {
            await client.put(BigInt(61_000 + w), n).catch((err: { code: string }) => void failures.writes.push({ at: Date.now(), code: err.code }));
            await sleep(5);
          }
        }),
      ]);
      for (let i = 0; i < 10; i++) {
        await sleep(400);
        const from = Date.now();
        await redis.stop();
        await sleep(40);
        await redis.start();
        down.push([from, Date.now()]);
      }
      stop = true;
      await load;
      // The restarts emptied the cache; once the fill hold is over, the reads fill it again.
      await sleep(1_700);
      for (const key of keys) await client.get(key);
      // Postgres away for longer than the readiness grace: every instance is degraded, and
      // the cached keys are still served.
      const hits = { ok: 0, failed: new Map<string, number>() };
      await postgres.down();
      const pgDownUntil = Date.now() + 3_500;
      while (Date.now() < pgDownUntil) {
        for (const key of keys) {
          await client.get(key).then(
            () => void hits.ok++,
            (err: { code: string }) => void hits.failed.set(err.code, (hits.failed.get(err.code) ?? 0) + 1),
          );
        }
      }
      const degraded = client.stats().instances.every((i) => i.state === 'unhealthy');
      await postgres.up();
      await client.close();
      if (process.env['KEYLANE_VERBOSE']) {
        console.log(JSON.stringify({ reads: [...failures.reads], writes: failures.writes.length, hitsOk: hits.ok, hitsFailed: [...hits.failed], degraded }));
      }
      // No read failed at all, not even with "no healthy instance".
      expect([...failures.reads]).toEqual([]);
      // Writes were refused as "nothing committed", and only while Redis was down or its
      // clients were still reconnecting (their backoff reaches a second).
      expect(failures.writes.every((f) => f.code === 'unavailable')).toBe(true);
      const nearRestart = (at: number) => down.some(([from, to]) => at >= from && at <= to + 1_500);
      expect(failures.writes.filter((f) => !nearRestart(f.at))).toEqual([]);
      // Postgres down past the grace: the instances were degraded, and the hits kept answering.
      expect(degraded).toBe(true);
      expect([...hits.failed]).toEqual([]);
      expect(hits.ok).toBeGreaterThan(100);
    } finally {
      await blipFleet?.stop();
      await postgres.close();
      await redis.stop();
      await dropScratch(databaseUrl, TEST_REDIS_URL, blipSpace).catch(() => undefined);
    }
  }, 120_000);
});

describe("one caller's bad requests do not take a healthy instance out of routing", () => {
  // What is under test is routing and answers, not latency. CI runs this beside the container
  // fault suites on two cores, where twice one normal put in 400 failed with 2 s to answer
  // (its code was not kept then; it never failed alone or under local CPU load). A generous
  // timeout keeps a starved machine out of it, and a failure below names its code. Once, with
  // the whole cli suite running, a normal put was refused `overloaded` ("3 queued, about 519 ms
  // of work ahead"): slow commits had pushed the lane's estimate past the 500 ms queue wait.
  // So this run has its own fleet whose queue wait is as generous as the timeout: admission is
  // another test's subject (the hot key below).
  const hostileSpace = createScratchNames('failhostile', 'cli');
  let hostileFleet: Fleet;
  beforeAll(async () => {
    hostileFleet = await startFleet({
      count: 2,
      databaseUrl,
      redisUrl,
      ...hostileSpace,
      lanes: 2,
      env: { [variableOf('maxQueueWaitMs')]: '10000' },
    });
  }, 60_000);
  afterAll(async () => {
    await hostileFleet?.stop();
    await dropScratch(databaseUrl, redisUrl, hostileSpace).catch(() => undefined);
  });

  async function hostileRun() {
    const client = sdk({ requestTimeoutMs: 10_000 }, hostileFleet);
    const downs: string[] = [];
    client.on('instance-down', (id, reason) => downs.push(`${id}: ${reason}`));
    await client.ready();
    let normalFailures = 0;
    let normalOk = 0;
    const normalErrors: string[] = [];
    const hostileAnswers: string[] = [];
    const hostile = [
      { kind: 'lone surrogate', value: 'a\ud800b' },
      { kind: 'oversized', value: 'x'.repeat(3 * 1024 * 1024) }, // over KEYLANE_MAX_BODY_BYTES (1 MiB)
      { kind: 'nul', value: 'nul\u0000' },
    ];
    try {
      for (let round = 0; round < 40; round++) {
        await Promise.all([
          ...Array.from({ length: 25 }, (_, i) => {
            const bad = hostile[(round + i) % hostile.length]!;
            return client.put(BigInt(10_000 + i), bad.value).then(
              () => void hostileAnswers.push(`${bad.kind}: ok`),
              (err: { code?: string; serviceCode?: string | null }) =>
                void hostileAnswers.push(`${bad.kind}: ${err.serviceCode ?? err.code ?? "no code"}`),
            );
          }),
          ...Array.from({ length: 10 }, (_, i) =>
            client.put(BigInt(20_000 + i), round).then(
              () => void normalOk++,
              (err: { code?: string; message?: string }) => {
                normalFailures++;
                normalErrors.push(`${err.code ?? 'no code'}: ${err.message ?? 'no message'}`);
              },
            ),
          ),
        ]);
      }
      return { downs, normalFailures, normalErrors, normalOk, hostileAnswers };
    } finally {
      await client.close();
    }
  }

  it('1,000 hostile puts interleaved with normal traffic: each answered with its own 4xx, 0 instance-down events, 0 normal failures', async () => {
    const { downs, normalFailures, normalErrors, normalOk, hostileAnswers } = await hostileRun();
    const tally: Record<string, number> = {};
    for (const a of hostileAnswers) tally[a] = (tally[a] ?? 0) + 1;
    // Each hostile put hears what was wrong with it, none a transport failure: the oversized
    // body is read past before its 413, so the caller never meets EPIPE (before that, about 1
    // in 14 of them got connection_failed).
    expect(tally).toEqual({
      'lone surrogate: invalid_body': 334,
      'oversized: payload_too_large': 333,
      'nul: invalid_body': 333,
    });
    expect(downs).toEqual([]);
    expect(normalErrors).toEqual([]);
    expect(normalFailures).toBe(0);
    expect(normalOk).toBe(400);
  }, 120_000);
});

describe('a hot key far past its capacity', () => {
  // The key's capacity is set, not guessed: with group commit a lane takes up to 32 queued
  // writes per COMMIT, and on a quiet machine one key then keeps up with 1,000 writes a second
  // (CI once saw 5,000 ok and not one overloaded). One write per transaction, each holding the
  // lane 10 ms past its marker, caps the key near 100 writes a second: 1,000 is ten times that.
  const hotSpace = createScratchNames('failhot', 'cli');
  let hot: Fleet;
  beforeAll(async () => {
    hot = await startFleet({
      count: 1,
      databaseUrl,
      redisUrl,
      ...hotSpace,
      lanes: 2,
      chaos: { writeDelayMs: 10 },
      env: { KEYLANE_GROUP_COMMIT: '0' },
    });
  }, 60_000);
  afterAll(async () => {
    await hot?.stop();
    await dropScratch(databaseUrl, redisUrl, hotSpace).catch(() => undefined);
  });

  it('answers 5,000 writes on one key before their deadlines: ok, or overloaded with Retry-After', async () => {
    const client = sdk({ requestTimeoutMs: 1_500, connections: 256 }, hot);
    await client.ready();
    try {
      const key = 30_000n;
      const owner = hot.instance(client.getServiceConnection(key).instanceId).url;
      const rssBefore = await residentBytes(owner);
      // Open loop: 1,000 writes a second for 5 s, ten times what the key's lane commits.
      const outcomes: Record<string, number> = {};
      let slowest = 0; // reported, not asserted: the caller's event loop lag is part of it
      let retryAfterMissing = 0;
      const sent: Promise<void>[] = [];
      const started = performance.now();
      for (let i = 0; i < 5_000; i++) {
        const due = started + i;
        const wait = due - performance.now();
        if (wait > 1) await sleep(wait);
        const at = performance.now();
        sent.push(
          client.put(key, i).then(
            () => void (outcomes['ok'] = (outcomes['ok'] ?? 0) + 1),
            (err: { code: string; retryAfterMs?: number }) => {
              outcomes[err.code] = (outcomes[err.code] ?? 0) + 1;
              if (err.code === 'overloaded' && !(typeof err.retryAfterMs === 'number' && err.retryAfterMs > 0)) retryAfterMissing++;
            },
          ).finally(() => {
            slowest = Math.max(slowest, performance.now() - at);
          }),
        );
      }
      await Promise.all(sent);
      const rssAfter = await residentBytes(owner);
      if (process.env['KEYLANE_VERBOSE']) {
        console.log(JSON.stringify({ outcomes, slowestMs: Math.round(slowest), rssGrowthMiB: (rssAfter - rssBefore) / 2 ** 20 }));
      }
      // Answered, not timed out: ok, overloaded (with Retry-After), or, for a request that spent
      // its whole budget on its way, deadline_exceeded. This machine runs the caller, both
      // instances, Postgres and Redis on 2 cores, so a few requests may still meet the caller's
      // own timer while its event loop lags: at least 99% must be answered.
      const answered = (outcomes['ok'] ?? 0) + (outcomes['overloaded'] ?? 0) + (outcomes['deadline_exceeded'] ?? 0);
      expect(Object.keys(outcomes).filter((k) => !['ok', 'overloaded', 'deadline_exceeded', 'request_timeout'].includes(k))).toEqual([]);
      expect(answered / 5_000).toBeGreaterThanOrEqual(0.99);
      expect(outcomes['ok']).toBeGreaterThan(0);
      expect(outcomes['overloaded']).toBeGreaterThan(0);
      expect(retryAfterMissing).toBe(0);
      // Memory stays bounded: queues hold at most a deadline's worth of work, bodies in flight
      // at most KEYLANE_MAX_BYTES_IN_FLIGHT.
      expect(rssAfter - rssBefore).toBeLessThan(128 * 2 ** 20);
    } finally {
      await client.close();
    }
  }, 60_000);
});

/** The instance's resident memory, from its own /metrics. */
async function residentBytes(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('process_resident_memory_bytes'));
  return Number(line?.split(' ').pop());
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
