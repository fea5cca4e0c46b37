import { describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BenchResult } from '../src/bench/index.js';
import { checkHistory, parseJsonl } from '@keylane/checker';
import {
  createTestContext,
  getFreePort,
  processAlive as alive,
  TEST_DATABASE_URL,
  TEST_REDIS_URL,
} from '@keylane/harness';
import { STRATEGY_NAMES } from '@keylane/engine/baselines';
import { createClient } from '@keylane/sdk';
import { SCENARIO_NAMES, type DemoReport } from '../src/index.js';

// These run the built CLI (dist/bin.js) as a user would: `pnpm test` builds first (turbo).
const BIN = fileURLToPath(new URL('../dist/bin.js', import.meta.url));

interface Finished {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runCli(
  args: string[],
  timeoutMs: number,
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<Finished> {
  const child = spawn(process.execPath, [BIN, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    ...options,
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  return new Promise((resolve) => {
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** `keylane demo --quick --json --no-out` with more flags, against the test databases; its report. */
async function quickDemo(flags: string[]): Promise<DemoReport> {
  const { code, stdout, stderr } = await runCli(
    [
      'demo',
      '--quick',
      '--json',
      '--no-out',
      ...flags,
      '--database-url',
      TEST_DATABASE_URL,
      '--redis-url',
      TEST_REDIS_URL,
    ],
    120_000,
  );
  expect({ code, stderr: code === 0 ? '' : stderr }).toEqual({ code: 0, stderr: '' });
  return JSON.parse(stdout) as DemoReport;
}

describe('keylane demo --quick --json', () => {
  it('reports every strategy and scenario, the report satisfies the claims, and is written with its chart', async () => {
    const started = Date.now();
    const out = await mkdtemp(join(tmpdir(), 'keylane-cli-demo-'));
    const histories = join(out, 'histories');
    const { code, stdout, stderr } = await runCli(
      [
        'demo',
        '--quick',
        '--json',
        '--out',
        out,
        '--history-dir',
        histories,
        '--database-url',
        TEST_DATABASE_URL,
        '--redis-url',
        TEST_REDIS_URL,
      ],
      170_000,
    );
    expect({ code, stderr: code === 0 ? '' : stderr }).toEqual({ code: 0, stderr: '' });
    const report = JSON.parse(stdout) as DemoReport;
    const elapsed = Date.now() - started;

    expect(report.reportVersion).toBe(1);
    expect(report.quick).toBe(true);
    expect(report.strategies.map((r) => r.strategy)).toEqual([
      'cache-aside',
      'invalidate-first',
      'double-delete',
      'locked',
      'serial',
      'serial-guarded',
    ]);
    expect(report.scenarios.map((r) => `${r.scenario}/${r.strategy}`)).toEqual([
      'split-view/serial',
      'split-view/serial-guarded',
      'instance-loss/serial',
      'instance-loss/serial-guarded',
    ]);
    // serial-guarded: clean in the plain run, under split view and under instance loss.
    const guarded = [...report.strategies, ...report.scenarios].filter(
      (r) => r.strategy === 'serial-guarded',
    );
    expect(guarded).toHaveLength(3);
    for (const r of guarded) {
      expect({
        run: r.scenario,
        violations: r.violations,
        diverged: r.divergedKeys,
        lost: r.ackedWritesLost,
      }).toEqual({
        run: r.scenario,
        violations: 0,
        diverged: 0,
        lost: 0,
      });
    }
    // The checker can fail: the baselines and serial-under-split-view are caught.
    const plain = (s: string) => report.strategies.find((r) => r.strategy === s)!;
    expect(plain('invalidate-first').violations).toBeGreaterThan(0);
    expect(plain('cache-aside').violations).toBeGreaterThan(0);
    expect(
      report.scenarios.find((r) => r.scenario === 'split-view' && r.strategy === 'serial')!
        .violations,
    ).toBeGreaterThan(0);
    expect(report.claims).toEqual({
      serialGuardedSafe: true,
      baselinesViolate: { 'cache-aside': true, 'invalidate-first': true },
      serialViolatesUnderSplitView: true,
    });
    const loss = report.scenarios.find(
      (r) => r.scenario === 'instance-loss' && r.strategy === 'serial-guarded',
    )!;
    expect(loss.fault?.rerouteMs).not.toBeNull();
    // Progress went to stderr, one line per phase (not a TTY here).
    expect(stderr).toMatch(/serial-guarded \/ instance-loss: killed item-\d \(SIGKILL\)/);

    // The same report as a file, and beside it the chart: a bar per run with its count.
    try {
      // Every run's history, as checker JSONL: read back and checked again, it gives the
      // verdicts the report states, so another tool can take the same files.
      const all = [...report.strategies, ...report.scenarios];
      expect((await readdir(histories)).sort()).toEqual(
        all.map((r) => basename(r.historyFile ?? '')).sort(),
      );
      for (const r of all) {
        const ops = parseJsonl(await readFile(r.historyFile!, 'utf8'));
        expect({
          run: `${r.strategy}/${r.scenario}`,
          ops: ops.length,
          violations: checkHistory(ops).violations.length,
        }).toEqual({
          run: `${r.strategy}/${r.scenario}`,
          ops: r.ops,
          violations: r.violations,
        });
      }
      const stem = report.startedAt.replace(/\.\d+Z$/, 'Z').replace(/:/g, '-');
      expect((await readdir(out)).sort()).toEqual([`${stem}.json`, `${stem}.svg`, 'histories']);
      expect(JSON.parse(await readFile(join(out, `${stem}.json`), 'utf8'))).toEqual(report);
      expect(stderr).toContain(
        `report: ${join(out, `${stem}.json`)}\nchart:  ${join(out, `${stem}.svg`)}\n`,
      );
      const svg = await readFile(join(out, `${stem}.svg`), 'utf8');
      // In chart order: a group per strategy, in it a bar per run (same workload, split view,
      // instance loss), each with its count above it.
      const label = {
        plain: 'same workload',
        'split-view': 'split view',
        'instance-loss': 'instance loss',
      };
      const runs = [...report.strategies, ...report.scenarios];
      const expected = STRATEGY_NAMES.flatMap((strategy) =>
        SCENARIO_NAMES.flatMap((scenario) =>
          runs
            .filter((r) => r.strategy === strategy && r.scenario === scenario)
            .map((r) => ({
              bar: `${strategy} / ${label[scenario]}`,
              count: r.violations < 1000 ? String(r.violations) : expect.stringMatching(/k$/),
            })),
        ),
      );
      expect(expected).toHaveLength(runs.length);
      const bars = [...svg.matchAll(/<rect class="bar"[^>]*><title>([^:]*):/g)].map((m) => m[1]);
      const counts = [...svg.matchAll(/<text class="value"[^>]*>([^<]*)<\/text>/g)].map(
        (m) => m[1],
      );
      expect(bars.map((bar, i) => ({ bar, count: counts[i] }))).toEqual(expected);
    } finally {
      await rm(out, { recursive: true, force: true });
    }
    process.stderr.write(`keylane demo --quick took ${(elapsed / 1000).toFixed(1)} s here\n`);
  }, 180_000);

  it('--deployment embedded: 4 processes each embedding the engine on the same keys; serial-guarded clean over several seeds, serial and invalidate-first caught', async () => {
    const out = await mkdtemp(join(tmpdir(), 'keylane-cli-embedded-'));
    const demo = (seed: number, strategies: string) =>
      quickDemo([
        '--deployment',
        'embedded',
        '--strategies',
        strategies,
        '--seed',
        String(seed),
        '--history-dir',
        join(out, String(seed)),
      ]);
    try {
      const first = await demo(42, 'invalidate-first,serial,serial-guarded');
      expect(first.config).toMatchObject({ deployment: 'embedded', instances: 4 });
      expect(first.strategies.map((r) => r.strategy)).toEqual([
        'invalidate-first',
        'serial',
        'serial-guarded',
      ]);
      // No fleet, so no split view or instance loss: every process owns every key already.
      expect(first.scenarios).toEqual([]);
      expect(first.claims).toEqual({
        serialGuardedSafe: true,
        baselinesViolate: { 'invalidate-first': true, serial: true },
        serialViolatesUnderSplitView: null,
      });
      const guarded = [first, await demo(7, 'serial-guarded'), await demo(8, 'serial-guarded')].map(
        (report) => report.strategies.find((r) => r.strategy === 'serial-guarded')!,
      );
      for (const r of guarded) {
        expect(r.ops).toBeGreaterThan(200);
        expect({
          seed: r.seed,
          violations: r.violations,
          diverged: r.divergedKeys,
          lost: r.ackedWritesLost,
        }).toEqual({
          seed: r.seed,
          violations: 0,
          diverged: 0,
          lost: 0,
        });
      }
      // The merged history of the 4 processes, as written, gives the same verdicts again.
      for (const r of first.strategies) {
        const ops = parseJsonl(await readFile(r.historyFile!, 'utf8'));
        expect(new Set(ops.map((op) => op.process)).size).toBe(16);
        expect(checkHistory(ops).violations.length).toBe(r.violations);
      }
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  }, 240_000);

  it.each(['routed', 'embedded'] as const)(
    '--entity carts, %s: the registers live in carts + cart_lines; serial-guarded clean, cache-aside caught',
    async (deployment) => {
      const report = await quickDemo([
        '--entity',
        'carts',
        '--deployment',
        deployment,
        '--strategies',
        'cache-aside,serial-guarded',
      ]);
      expect(report.config).toMatchObject({ entity: 'carts', deployment });
      const runs = [...report.strategies, ...report.scenarios];
      // Routed: split view and instance loss on the serial strategies too; embedded: none.
      expect(runs.map((r) => `${r.strategy}/${r.scenario}`)).toEqual(
        deployment === 'routed'
          ? [
              'cache-aside/plain',
              'serial-guarded/plain',
              'split-view/serial',
              'split-view/serial-guarded',
              'instance-loss/serial',
              'instance-loss/serial-guarded',
            ].map((r) =>
              r.startsWith('split') || r.startsWith('instance')
                ? `${r.split('/')[1]}/${r.split('/')[0]}`
                : r,
            )
          : ['cache-aside/plain', 'serial-guarded/plain'],
      );
      for (const r of runs.filter((x) => x.strategy === 'serial-guarded')) {
        expect({
          run: r.scenario,
          ops: r.ops > 100,
          violations: r.violations,
          diverged: r.divergedKeys,
          lost: r.ackedWritesLost,
        }).toEqual({
          run: r.scenario,
          ops: true,
          violations: 0,
          diverged: 0,
          lost: 0,
        });
      }
      expect(
        report.strategies.find((r) => r.strategy === 'cache-aside')!.violations,
      ).toBeGreaterThan(0);
      expect(report.claims.serialGuardedSafe).toBe(true);
    },
    180_000,
  );

  it('--entity carts --deployment embedded: serial and invalidate-first caught on the relational entity, serial-guarded clean over two seeds', async () => {
    const demo = (seed: number, strategies: string) =>
      quickDemo(['--entity', 'carts', '--deployment', 'embedded', '--strategies', strategies, '--seed', String(seed)]);
    const first = await demo(42, 'invalidate-first,serial,serial-guarded');
    expect(first.config).toMatchObject({ entity: 'carts', deployment: 'embedded', instances: 4 });
    expect(first.claims).toEqual({
      serialGuardedSafe: true,
      baselinesViolate: { 'invalidate-first': true, serial: true },
      serialViolatesUnderSplitView: null,
    });
    const guarded = [first, await demo(7, 'serial-guarded')].map(
      (report) => report.strategies.find((r) => r.strategy === 'serial-guarded')!,
    );
    for (const r of guarded) {
      expect(r.ops).toBeGreaterThan(200);
      expect({ seed: r.seed, violations: r.violations, diverged: r.divergedKeys, lost: r.ackedWritesLost }).toEqual({
        seed: r.seed,
        violations: 0,
        diverged: 0,
        lost: 0,
      });
    }
  }, 240_000);

  it('says what to do when Redis is not reachable, before starting anything', async () => {
    const port = await getFreePort();
    const { code, stdout, stderr } = await runCli(
      [
        'demo',
        '--quick',
        '--database-url',
        TEST_DATABASE_URL,
        '--redis-url',
        `redis://127.0.0.1:${port}`,
      ],
      30_000,
    );
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toContain(`Redis is not reachable at redis://127.0.0.1:${port}`);
    expect(stderr).toContain('start it or pass --redis-url');
  }, 40_000);
});

describe('keylane usage', () => {
  it('--version prints the version of the package', async () => {
    const manifest = JSON.parse(
      await readFile(fileURLToPath(new URL('../package.json', import.meta.url)), 'utf8'),
    ) as { version: string };
    for (const flag of ['--version', '-V']) {
      expect(await runCli([flag], 30_000)).toEqual({
        code: 0,
        stdout: `${manifest.version}\n`,
        stderr: '',
      });
    }
  }, 40_000);

  // 2, not 1: the demo's 1 means its claim failed. One line saying what, one saying where the
  // usage is: not the whole help.
  it.each<[string, string[], string]>([
    [
      'a bad flag value',
      ['demo', '--seed', 'x'],
      "keylane: option '--seed <n>' argument 'x' is invalid. expected an integer from 0 to 4294967295\nrun `keylane demo --help` for the usage\n",
    ],
    [
      'an unknown flag',
      ['up', '--lane', '2'],
      "keylane: unknown option '--lane'\n(Did you mean --lanes?)\nrun `keylane up --help` for the usage\n",
    ],
    [
      'an unknown command',
      ['demoo'],
      "keylane: unknown command 'demoo'\n(Did you mean demo?)\nrun `keylane --help` for the usage\n",
    ],
    [
      'a value the bench refuses once parsed',
      ['bench', '--duration', '10'],
      'keylane: invalid option durationMs: must be an integer in [50, 600000] (--duration), got 10\nrun `keylane bench --help` for the usage\n',
    ],
  ])(
    'answers %s with the error and a hint, exit 2',
    async (_what, args, stderr) => {
      expect(await runCli(args, 30_000)).toEqual({ code: 2, stdout: '', stderr });
    },
    40_000,
  );

  it('has one default database for every command: the item service default', async () => {
    const env = { ...process.env };
    delete env['KEYLANE_DATABASE_URL'];
    for (const command of ['up', 'demo', 'bench']) {
      const { code, stdout } = await runCli([command, '--help'], 30_000, { env });
      expect({ command, code }).toEqual({ command, code: 0 });
      // commander wraps long lines; the default is the one URL after "--database-url".
      const help = stdout.replace(/\s+/g, ' ');
      expect({ command, help }).toEqual({
        command,
        help: expect.stringMatching(
          /--database-url <url> [^-]*\(default: "?postgres:\/\/postgres@127\.0\.0\.1:5432\/postgres"?\)/,
        ),
      });
    }
  }, 60_000);
});

describe('keylane up', () => {
  it.each([
    ['items', 'item'],
    ['carts', 'cart'],
  ] as const)(
    '--service %s: starts the fleet, prints the URLs and a createClient snippet that works, and stops everything on SIGTERM',
    async (service, idPrefix) => {
      const ctx = await createTestContext({ name: `cli_up_${service}` });
      try {
        const child = spawn(
          process.execPath,
          [
            BIN,
            'up',
            '--service',
            service,
            '--instances',
            '2',
            '--database-url',
            ctx.databaseUrl,
            '--redis-url',
            ctx.redisUrl,
            '--schema',
            ctx.schema,
            '--prefix',
            ctx.prefix,
            '--lanes',
            '2',
          ],
          { stdio: ['ignore', 'pipe', 'pipe'] },
        );
        let stdout = '';
        let stderr = '';
        child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
        child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
        const exited = once(child, 'close') as Promise<[number | null]>;
        const deadline = Date.now() + 45_000;
        while (!stdout.includes('Ctrl-C') && Date.now() < deadline && child.exitCode === null) {
          await new Promise((r) => setTimeout(r, 100));
        }
        expect({ stdout, stderr: stdout.includes('Ctrl-C') ? '' : stderr }).toEqual({
          stdout: expect.stringContaining('Ctrl-C'),
          stderr: '',
        });

        const instances = [
          ...stdout.matchAll(/((?:item|cart)-\d)\s+(http:\/\/127\.0\.0\.1:\d+)\s+\(pid (\d+)\)/g),
        ].map((m) => ({
          id: m[1]!,
          url: m[2]!,
          pid: Number(m[3]),
        }));
        expect(instances.map((i) => i.id)).toEqual([`${idPrefix}-1`, `${idPrefix}-2`]);
        expect(stdout).toContain("import { createClient } from '@keylane/sdk';");
        for (const i of instances) {
          expect(stdout).toContain(`{ id: '${i.id}', url: '${i.url}' },`);
          const res = await fetch(`${i.url}/healthz/ready`, { headers: { connection: 'close' } });
          await res.arrayBuffer();
          expect(res.status).toBe(200);
        }
        // What the snippet says to do, done: through the SDK's routing to the key's owner.
        const client = createClient({ instances: instances.map(({ id, url }) => ({ id, url })) });
        try {
          await client.ready();
          if (service === 'carts') {
            expect(stdout).toContain(
              "await client.request(42n, { method: 'PUT', path: '/v1/carts/42/lines/tea'",
            );
            const put = await client.request(42n, {
              method: 'PUT',
              path: '/v1/carts/42/lines/tea',
              body: { qty: 2, priceCents: 450 },
            });
            expect(put.status).toBe(200);
            const { body } = await client.request(42n, { path: '/v1/carts/42' });
            expect(body).toMatchObject({
              id: '42',
              lines: [{ sku: 'tea', qty: 2, priceCents: 450 }],
            });
          } else {
            expect(await client.put(42n, 'tea')).toMatchObject({
              id: '42',
              value: 'tea',
              version: 1,
            });
          }
        } finally {
          await client.close();
        }

        child.kill('SIGTERM');
        const [code] = await exited;
        expect(code).toBe(0);
        expect(stderr).toContain('all instances stopped');
        expect(instances.filter((i) => alive(i.pid))).toEqual([]);
      } finally {
        await ctx.dispose();
      }
    },
    60_000,
  );
});

describe('keylane bench', () => {
  it('is the keylane-bench command under the keylane name', async () => {
    const { code, stdout } = await runCli(['bench', '--help'], 30_000);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^Usage: keylane bench \[options\]\n/);
    for (const flag of ['--quick', '--only <sections>', '--out <dir>', '--report <file>'])
      expect(stdout).toContain(flag);
  }, 40_000);

  it('runs a quick routing-only bench and writes a results JSON and a report that parse', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'keylane-cli-bench-'));
    try {
      const { code, stdout, stderr } = await runCli(
        [
          'bench',
          '--quick',
          '--only',
          'routing',
          '--keys',
          '10',
          '--out',
          join(dir, 'results'),
          '--report',
          join(dir, 'report.md'),
          '--database-url',
          TEST_DATABASE_URL,
          '--redis-url',
          TEST_REDIS_URL,
        ],
        50_000,
      );
      expect({ code, stderr: code === 0 ? '' : stderr }).toEqual({ code: 0, stderr: '' });
      const files = await readdir(join(dir, 'results'));
      expect(files).toHaveLength(1);
      const resultsFile = join(dir, 'results', files[0]!);
      const result = JSON.parse(await readFile(resultsFile, 'utf8')) as BenchResult;
      expect(result.schemaVersion).toBe(1);
      expect(result.command).toMatch(/^keylane bench --quick --only routing /);
      expect(result.runs.flatMap((r) => r.errors)).toEqual([]);
      // The routing section alone measures the two routing targets, and nothing else.
      const measured = result.summary.targets.filter((t) => t.measured !== null);
      expect(measured.map((t) => t.id).sort()).toEqual([
        'routing-consistent-128',
        'routing-modulo-128',
      ]);
      for (const t of measured) expect(t.measured!.median).toBeGreaterThan(0);
      const report = await readFile(join(dir, 'report.md'), 'utf8');
      expect(report).toMatch(/^# Keylane bench/);
      expect(report).toContain('## SDK routing');
      // No fleet ran, so no fleet setup is described.
      expect(report).toContain('Sections run: routing (no fleet was started)');
      expect(report).not.toContain('item-service instances per strategy');
      expect(report).toContain(`results/${files[0]!}`);
      expect(stdout).toContain(`results: ${resultsFile}`);
      expect(stderr).toMatch(/bench \d+\/\d+ .* SDK routing/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it('writes into the current folder by default, not into the pnpm workspace around it', async () => {
    const workspace = await mkdtemp(join(tmpdir(), 'keylane-cli-bench-ws-'));
    try {
      // A user's own pnpm workspace with a bench/ folder of theirs; the bench runs in a package.
      await writeFile(join(workspace, 'pnpm-workspace.yaml'), 'packages:\n  - app\n');
      await mkdir(join(workspace, 'bench'));
      await writeFile(join(workspace, 'bench', 'report.md'), '# their report\n');
      const app = join(workspace, 'app');
      await mkdir(app);
      const { code, stdout, stderr } = await runCli(
        [
          'bench',
          '--quick',
          '--only',
          'routing',
          '--database-url',
          TEST_DATABASE_URL,
          '--redis-url',
          TEST_REDIS_URL,
        ],
        50_000,
        { cwd: app },
      );
      expect({ code, stderr: code === 0 ? '' : stderr }).toEqual({ code: 0, stderr: '' });
      const results = await readdir(join(app, 'keylane-bench', 'results'));
      expect(results).toHaveLength(1);
      expect(stdout).toContain(`results: ${join(app, 'keylane-bench', 'results', results[0]!)}\n`);
      expect(stdout).toContain(`report:  ${join(app, 'keylane-bench', 'report.md')}`);
      expect((await readdir(app)).sort()).toEqual(['keylane-bench']);
      expect((await readdir(workspace)).sort()).toEqual(['app', 'bench', 'pnpm-workspace.yaml']);
      expect(await readdir(join(workspace, 'bench'))).toEqual(['report.md']);
      expect(await readFile(join(workspace, 'bench', 'report.md'), 'utf8')).toBe(
        '# their report\n',
      );
    } finally {
      await rm(workspace, { recursive: true, force: true });
    }
  }, 60_000);

  it('reports a bad option (with the hint) and an unreachable Redis (without) like the other commands, exit 2', async () => {
    const dir = join(tmpdir(), 'keylane-cli-bench-never-written');
    const out = ['--out', join(dir, 'results'), '--report', join(dir, 'report.md')];
    const bad = await runCli(['bench', '--quick', '--duration', '10', ...out], 30_000);
    expect(bad).toEqual({
      code: 2,
      stdout: '',
      stderr:
        'keylane: invalid option durationMs: must be an integer in [50, 600000] (--duration), got 10\n' +
        'run `keylane bench --help` for the usage\n',
    });

    const port = await getFreePort();
    const unreachable = await runCli(
      ['bench', '--quick', '--redis-url', `redis://127.0.0.1:${port}`, ...out],
      30_000,
    );
    expect(unreachable.code).toBe(2);
    expect(unreachable.stderr).toMatch(
      new RegExp(
        `^keylane: Redis is not reachable at redis://127\\.0\\.0\\.1:${port}.*--redis-url\\n$`,
      ),
    );
    expect(readdirOrNothing(dir)).toEqual([]);
  }, 40_000);
});

function readdirOrNothing(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}
