import { execFile } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import pg from 'pg';
import { STRATEGY_NAMES } from '@keylane/engine/baselines';
import type { BenchResult } from '../../src/bench/index.js';
import { checkWellFormed } from './svg-check.js';
import { BENCH, DATABASE_URL, REDIS_URL, isolatedArgs } from './bench-bin.js';

// The built bin with --quick on a tiny budget: a smoke run of every section. It checks shape
// and that each section produced numbers; it asserts nothing about the values (timings on a
// shared machine are not a test).
describe('keylane bench --quick', () => {
  let dir: string;
  let stdout: string;
  let stderr: string;
  let result: BenchResult;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'keylane-bench-'));
    const run = await promisify(execFile)(
      process.execPath,
      [
        ...BENCH,
        '--quick',
        '--duration',
        '250',
        '--warmup',
        '100',
        '--rate',
        '200',
        '--keys',
        '500',
        ...isolatedArgs(dir),
      ],
      { timeout: 110_000, maxBuffer: 16 * 2 ** 20 },
    );
    stdout = run.stdout;
    stderr = run.stderr;
    const files = await readdir(join(dir, 'results'));
    expect(files).toHaveLength(1);
    expect(files[0]).toMatch(/^\d{4}-\d\d-\d\dT\d\d-\d\d-\d\dZ\.json$/);
    result = JSON.parse(await readFile(join(dir, 'results', files[0]!), 'utf8')) as BenchResult;
  }, 120_000);

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('prints the table and the targets on stdout, progress on stderr', () => {
    expect(stdout).toContain('serial-guarded');
    expect(stdout).toContain('read-hit path vs the bare hop + Redis GET');
    expect(stderr).toMatch(/bench \d+\/\d+/);
  });

  it('recorded no failed section', () => {
    const failures = result.runs.flatMap((r) => [
      ...r.errors,
      ...r.strategies.flatMap((s) => (s.error ? [`${s.strategy}: ${s.error}`] : [])),
    ]);
    expect(failures).toEqual([]);
  });

  it('measured every ceiling', () => {
    for (const name of [
      'redis-get',
      'http-hop',
      'http-hop-fleet',
      'hop-redis-fleet',
      'pg-select',
      'pg-update',
    ] as const) {
      expect(result.summary.ceilings[name]!.throughput.median).toBeGreaterThan(0);
      expect(result.summary.ceilings[name]!.meanMs.median).toBeGreaterThan(0);
    }
  });

  it('ran every strategy, the direct cache-aside and the embedded engine on every workload, closed and open loop', () => {
    for (const system of [
      ...STRATEGY_NAMES,
      'direct cache-aside',
      'embedded serial-guarded',
    ] as const) {
      for (const workload of ['read-heavy', 'balanced', 'hot-key'] as const) {
        expect(result.summary.closed[system]![workload]!.throughput.median).toBeGreaterThan(0);
        expect(result.summary.open[system]![workload]!.p99Ms.median).toBeGreaterThan(0);
      }
    }
    // The embedded engine's own counters (a write fills its new value, so reads mostly hit).
    expect(
      result.summary.engine['embedded serial-guarded']!['read-heavy']!.hitRatio.median,
    ).toBeGreaterThan(0.5);
    for (const strategy of STRATEGY_NAMES) {
      expect(result.summary.readHit[strategy]!.throughput.median).toBeGreaterThan(0);
      expect(
        result.summary.engine[strategy]!['read-heavy']!.hitRatio.median,
      ).toBeGreaterThanOrEqual(0);
    }
  });

  it('measured CPU per request of the servers and the caller, and the hot key under 2x overload', () => {
    const cpu = result.summary.cpu;
    expect(cpu.ceilings['hop-redis-fleet']!.serverUs!.median).toBeGreaterThan(0);
    expect(cpu.readHit['serial-guarded']!.serverUs!.median).toBeGreaterThan(0);
    expect(cpu.readHit['serial-guarded']!.clientUs.median).toBeGreaterThan(0);
    const overload = result.summary.overload!;
    expect(overload.capacity.median).toBeGreaterThan(0);
    expect(overload.offeredRate.median).toBe(Math.round(overload.capacity.median * 2));
    expect(overload.outcomes.sent).toBeGreaterThan(0);
  });

  it('ran the embedded engine and bentocache each in 4 caller processes', () => {
    for (const system of ['embedded', 'bentocache-l2'] as const) {
      expect(result.summary.peers[system]!.throughput.median).toBeGreaterThan(0);
      expect(result.summary.peers[system]!.openP99Ms.median).toBeGreaterThan(0);
    }
  });

  it('counted DB reads per invalidation for every strategy', () => {
    for (const strategy of STRATEGY_NAMES) {
      expect(Number.isFinite(result.summary.singleFlight[strategy]!.maxPerInstance.median)).toBe(
        true,
      );
    }
  });

  it('timed SDK routing for both strategies at 3, 16 and 128 instances', () => {
    expect(result.summary.routing.map((r) => `${r.instances}/${r.strategy}`).sort()).toEqual([
      '128/consistent',
      '128/modulo',
      '16/consistent',
      '16/modulo',
      '3/consistent',
      '3/modulo',
    ]);
    for (const r of result.summary.routing) expect(r.wallNs.median).toBeGreaterThan(0);
  });

  it("checked each in-process system under the demo's delays: the engine clean, the hand-written cache-aside and bentocache caught", () => {
    const checked = result.summary.checked;
    expect(checked['embedded serial-guarded']!.ops.median).toBeGreaterThan(200);
    expect(checked['embedded serial-guarded']!.violations.median).toBe(0);
    // The unguarded peers in the same harness: the checker finds their stale fills.
    expect(checked['direct cache-aside']!.violations.median).toBeGreaterThan(0);
    expect(checked['bentocache (Redis)']!.violations.median).toBeGreaterThan(0);
    expect(checked['bentocache (L1 + Redis + bus)']!.ops.median).toBeGreaterThan(0);
  });

  it('gave every target a measured value and a verdict', () => {
    expect(result.summary.targets).toHaveLength(16);
    for (const t of result.summary.targets) {
      expect(t.measured).not.toBeNull();
      expect(typeof t.met).toBe('boolean');
    }
  });

  it('wrote the report with well-formed charts it links', async () => {
    const report = await readFile(join(dir, 'report.md'), 'utf8');
    const charts = await readdir(join(dir, 'charts'));
    expect(charts.sort()).toEqual([
      'ceilings.svg',
      'latency-balanced.svg',
      'latency-hot-key.svg',
      'latency-read-heavy.svg',
      'throughput.svg',
    ]);
    for (const chart of charts) {
      expect(report).toContain(`(charts/${chart})`);
      checkWellFormed(await readFile(join(dir, 'charts', chart), 'utf8'));
    }
    expect(report).toContain('## Targets');
  });

  it('left no schema and no Redis keys behind', async () => {
    const client = new pg.Client({ connectionString: DATABASE_URL });
    await client.connect();
    const redis = new Redis(REDIS_URL, { lazyConnect: true });
    await redis.connect();
    try {
      const { rows } = await client.query(
        'SELECT 1 FROM information_schema.schemata WHERE schema_name = $1',
        [result.scratch.schema],
      );
      expect(rows).toHaveLength(0);
      const [, keys] = await redis.scan(
        '0',
        'MATCH',
        `{${result.scratch.prefix}*`,
        'COUNT',
        100_000,
      );
      expect(keys).toHaveLength(0);
    } finally {
      await client.end();
      await redis.quit();
    }
  });
});
