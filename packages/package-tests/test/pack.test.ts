import { copyFile, lstat, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createEngine } from '@keylane/engine';
import { createRouter, routingKey } from '@keylane/sdk';
import { startFleet, type Fleet } from '@keylane/cli';
import { createTestContext, type TestContext } from '@keylane/harness';
import {
  publishedLibraries,
  publishedPackages,
  REPO_ROOT,
  run,
  tarballFiles,
  type Manifest,
  type WorkspacePackage,
} from './lib/packages.js';
import { installTarballs, packPublishedOnce, Timings, unpack, type PackedSet } from './lib/tarballs.js';

/**
 * The published libraries as a user gets them: `pnpm pack` (whose prepack builds), the
 * tarballs installed with npm (not pnpm: no workspace links, no hoisting rules of ours) into a
 * scratch project outside the repository, then used from ESM and from CommonJS in plain Node,
 * and type-checked by a strict TypeScript consumer of each kind.
 */

// The CLI is published too; what its tarball must be is test/npx-keylane.test.ts.
const PUBLISHED = publishedLibraries();
const FIXTURES = new URL('./fixtures/', import.meta.url).pathname;
const REPOSITORY_URL = 'git+https://github.com/keylane/keylane.git';

let dir: string;
let packedSet: PackedSet;
const tarballs = new Map<string, string>();
const unpacked = new Map<string, string>();
let app: string;
const timings = new Timings();
const timed = timings.timed.bind(timings);

/** The workspace engine's message for the options use-cjs.cjs passes (an empty connection string). */
const workspaceEngineRefusal = (): Promise<string> =>
  createEngine({ postgres: { connectionString: '' }, redis: { url: 'redis://127.0.0.1:1' } }).then(
    () => 'accepted',
    (err: unknown) => (err instanceof Error ? err.message : String(err)),
  );

const packed = (pkg: WorkspacePackage): string => unpacked.get(pkg.manifest.name)!;
const packedManifest = async (pkg: WorkspacePackage): Promise<Manifest> =>
  JSON.parse(await readFile(join(packed(pkg), 'package.json'), 'utf8')) as Manifest;

beforeAll(async () => {
  packedSet = await timed('packing', packPublishedOnce);
  dir = await mkdtemp(join(tmpdir(), 'keylane-pack-'));
  for (const pkg of PUBLISHED) {
    const tarball = packedSet.tarballs.get(pkg.manifest.name)!;
    tarballs.set(pkg.manifest.name, tarball);
    unpacked.set(pkg.manifest.name, await unpack(tarball, join(dir, 'unpacked', pkg.dir)));
  }
  const installed = await installTarballs('caller', PUBLISHED, packedSet);
  app = installed.app;
  timings.add('npm install', installed.seconds);
}, 180_000);

afterAll(async () => {
  process.stderr.write(
    `package-tests: ${[...(packedSet?.timings ?? []), ...timings.lines].join(', ')}\n`,
  );
  await rm(dir, { recursive: true, force: true });
  if (app) await rm(app, { recursive: true, force: true });
});

describe('the published packages', () => {
  it('are four libraries meant for other teams, and the CLI', () => {
    expect(PUBLISHED.map((p) => p.manifest.name)).toEqual([
      '@keylane/checker',
      '@keylane/engine',
      '@keylane/protocol',
      '@keylane/sdk',
    ]);
    expect(publishedPackages().map((p) => p.manifest.name)).toEqual([
      '@keylane/checker',
      '@keylane/cli',
      '@keylane/engine',
      '@keylane/protocol',
      '@keylane/sdk',
    ]);
  });

  it.each(PUBLISHED.map((p) => [p.manifest.name, p] as const))(
    '%s: the tarball holds its fresh build, LICENSE, CHANGELOG and README, and nothing else',
    async (_name, pkg) => {
      const files = await tarballFiles(tarballs.get(pkg.manifest.name)!);
      expect(files).toEqual(
        expect.arrayContaining(['LICENSE', 'CHANGELOG.md', 'README.md', 'package.json']),
      );
      // Beside dist/: what the manifest's `files` lists (the engine also ships sql/).
      const extra = (pkg.manifest.files ?? []).filter(
        (f) => !['dist', 'README.md', 'CHANGELOG.md', 'LICENSE'].includes(f),
      );
      expect(
        files
          .filter((f) => !f.startsWith('dist/') && !extra.some((e) => f.startsWith(`${e}/`)))
          .sort(),
      ).toEqual(['CHANGELOG.md', 'LICENSE', 'README.md', 'package.json'].sort());
      for (const e of extra) expect(files.some((f) => f.startsWith(`${e}/`))).toBe(true);
      // Every file in dist/ is the output of a source file that exists now (the prepack built
      // from an empty dist/), and every source has its output.
      const sources = (await readdir(join(REPO_ROOT, pkg.dir, 'src'), { recursive: true }))
        .filter((f) => f.endsWith('.ts'))
        .map((f) => f.replace(/\.ts$/, ''));
      const expected = sources.flatMap((s) => [
        `dist/${s}.js`,
        `dist/${s}.js.map`,
        `dist/${s}.d.ts`,
      ]);
      expect(files.filter((f) => f.startsWith('dist/')).sort()).toEqual(expected.sort());
      expect(files).not.toContain('dist/stale-output.js');
      const license = await readFile(join(packed(pkg), 'LICENSE'), 'utf8');
      expect(license).toBe(await readFile(join(REPO_ROOT, 'LICENSE'), 'utf8'));
      expect(license).toMatch(/^MIT License\n/);
    },
  );

  it.each(PUBLISHED.map((p) => [p.manifest.name, p] as const))(
    '%s: the packed manifest has real versions, metadata and an exports map for import and require',
    async (_name, pkg) => {
      const manifest = await packedManifest(pkg);
      expect(JSON.stringify(manifest)).not.toContain('workspace:');
      const versions = new Map(PUBLISHED.map((p) => [p.manifest.name, p.manifest.version]));
      for (const [dep, range] of Object.entries(manifest.dependencies ?? {})) {
        const version = versions.get(dep);
        // A workspace dependency becomes a caret range of its current version, so an app with
        // two of these packages installs one copy of @keylane/protocol (its error classes).
        if (version !== undefined) expect({ dep, range }).toEqual({ dep, range: `^${version}` });
      }
      expect(manifest.license).toBe('MIT');
      expect(manifest.repository).toEqual({ type: 'git', url: REPOSITORY_URL, directory: pkg.dir });
      expect(manifest.homepage).toBe(
        `${REPOSITORY_URL.replace(/^git\+/, '').replace(/\.git$/, '')}/tree/main/${pkg.dir}#readme`,
      );
      expect(manifest.bugs?.url).toMatch(/^https:\/\/github\.com\/.+\/issues$/);
      expect(manifest.keywords).toContain('keylane');
      expect(manifest.publishConfig).toEqual({ access: 'public' });
      // The workspace's prepack builds it; pnpm leaves it out of the tarball, where the script
      // it runs (scripts/prepack.mjs, outside the package) does not exist.
      expect(pkg.manifest.scripts?.['prepack']).toBe('node ../../scripts/prepack.mjs');
      expect(manifest.scripts?.['prepack']).toBeUndefined();
      // Conditions: types first, then `default` (what both import and require() take).
      for (const [subpath, target] of Object.entries(manifest.exports ?? {})) {
        if (subpath === './package.json') continue;
        expect({ subpath, conditions: Object.keys(target as object) }).toEqual({
          subpath,
          conditions: ['types', 'default'],
        });
      }
    },
  );

  it.each(PUBLISHED.map((p) => [p.manifest.name, p] as const))(
    '%s: CHANGELOG.md starts at the version being packed; source maps carry their sources',
    async (_name, pkg) => {
      const changelog = await readFile(join(packed(pkg), 'CHANGELOG.md'), 'utf8');
      expect(changelog.startsWith(`# ${pkg.manifest.name}\n`)).toBe(true);
      expect(/^## (\S+)$/m.exec(changelog)?.[1]).toBe(pkg.manifest.version);
      const maps = (await tarballFiles(tarballs.get(pkg.manifest.name)!)).filter((f) =>
        f.endsWith('.map'),
      );
      expect(maps.length).toBeGreaterThan(0);
      for (const file of maps) {
        const map = JSON.parse(await readFile(join(packed(pkg), file), 'utf8')) as {
          sources: string[];
          sourcesContent?: (string | null)[];
        };
        // The tarball has no src/, so each map must carry the text of every source it names.
        expect({ file, inline: map.sourcesContent?.length }).toEqual({
          file,
          inline: map.sources.length,
        });
        expect(map.sourcesContent!.every((s) => typeof s === 'string' && s.length > 0)).toBe(true);
      }
    },
  );
});

describe('installed with npm into a project outside the repository', () => {
  let ctx: TestContext;
  let fleet: Fleet;

  beforeAll(async () => {
    ctx = await createTestContext({ name: 'packed' });
    fleet = await startFleet({
      count: 1,
      lanes: 2,
      databaseUrl: ctx.databaseUrl,
      redisUrl: ctx.redisUrl,
      schema: ctx.schema,
      prefix: ctx.prefix,
    });
  }, 60_000);
  afterAll(async () => {
    await fleet?.stop();
    await ctx?.dispose();
  });

  it('holds the tarballs themselves: copies, not links into the workspace', async () => {
    for (const pkg of PUBLISHED) {
      const installed = await lstat(join(app, 'node_modules', pkg.manifest.name));
      expect({ name: pkg.manifest.name, directory: installed.isDirectory() }).toEqual({
        name: pkg.manifest.name,
        directory: true,
      });
    }
    const lock = JSON.parse(await readFile(join(app, 'package-lock.json'), 'utf8')) as {
      packages: Record<string, { resolved?: string; version?: string }>;
    };
    // npm resolved @keylane/protocol (a dependency of three of them) to the one tarball.
    expect(
      Object.keys(lock.packages).filter((p) => p.endsWith('node_modules/@keylane/protocol')),
    ).toEqual(['node_modules/@keylane/protocol']);
  });

  it('works from ESM: the SDK against a real item service, the engine against Postgres and Redis, the checker on what was recorded', async () => {
    await copyFile(join(FIXTURES, 'use-esm.mjs'), join(app, 'use-esm.mjs'));
    await ctx.pg.query(
      `CREATE TABLE ${ctx.schema}.app_users (id bigint PRIMARY KEY, name text NOT NULL)`,
    );
    const url = fleet.instances[0]!.url;
    const { stdout } = await run(
      process.execPath,
      ['use-esm.mjs', url, ctx.databaseUrl, ctx.schema, ctx.redisUrl, ctx.prefix],
      app,
    );
    const max = '9223372036854775807';
    const item = { id: max, value: 'from-esm', version: 1 };
    expect(JSON.parse(stdout)).toEqual({
      put: item,
      got: item,
      conflict: 'version_conflict',
      check: { ok: true, opsChecked: 2 },
      absent: null,
      written: { id: '-1', name: 'from-esm' },
      cached: { id: '-1', name: 'from-esm' },
      // The first read missed (and cached the absence); the mutation's value went into the
      // cache, so the second read was a hit.
      stats: { hits: 1, misses: 1, mutations: 1 },
      item: { id: '7', value: { from: 'esm' }, version: 1 },
      itemRead: { id: '7', value: { from: 'esm' }, version: 1 },
      defaultLanes: 16,
      strategies: 6,
      // The packed SDK routes a key where the workspace's does.
      pick: createRouter('consistent').pick(routingKey(BigInt(max)), ['a', 'b', 'c']),
      sdkBench: 'ERR_PACKAGE_PATH_NOT_EXPORTED',
    });
    // The item service (a separate process) really stored what the packed SDK sent.
    const row = await ctx.pg.query<{ value: unknown }>(
      `SELECT value FROM ${ctx.schema}.items WHERE id = $1`,
      [max],
    );
    expect(row.rows).toEqual([{ value: 'from-esm' }]);
  }, 60_000);

  it('works from CommonJS require(): ids, routing, the checker catching a stale read, the engine refusing bad options', async () => {
    await copyFile(join(FIXTURES, 'use-cjs.cjs'), join(app, 'use-cjs.cjs'));
    const { stdout, stderr } = await run(process.execPath, ['use-cjs.cjs'], app);
    const ids = ['-9223372036854775808', '0', '9223372036854775807'];
    const out = JSON.parse(stdout) as Record<string, unknown>;
    expect(out).toEqual({
      ids,
      picks: ids.map((id) => createRouter('modulo').pick(routingKey(BigInt(id)), ['a', 'b', 'c'])),
      check: { ok: false, kinds: ['stale-read'] },
      violation: expect.stringContaining('[stale-read] key 42: read by reader -> "v1"'),
      engineError: {
        code: 'invalid_options',
        option: 'postgres.connectionString',
        // Word for word what the workspace's engine says to the same options.
        message: await workspaceEngineRefusal(),
        isInvalidOptionsError: true,
        isProtocolKeylaneError: true,
        sdkReexportsTheSameClass: true,
      },
      sdkBench: 'ERR_PACKAGE_PATH_NOT_EXPORTED',
      resolved: ['protocol', 'sdk', 'engine', 'checker'].map((name) =>
        join(app, 'node_modules/@keylane', name, 'dist/index.js'),
      ),
    });
    // Node 20.19+ loads them without a warning.
    expect(stderr).toBe('');
  }, 30_000);

  it('type-checks a strict TypeScript consumer of each kind: ESM imports and CommonJS import = require()', async () => {
    await writeFile(
      join(app, 'check-esm.mts'),
      [
        "import { createClient, createRouter, routingKey, NoHealthyInstanceError, type Item, type ClientOptions } from '@keylane/sdk';",
        "import { createEngine, DEFAULTS, type EngineOptions, type EngineStats } from '@keylane/engine';",
        "import { createItems, type Items } from '@keylane/engine/items';",
        "import { createEngine as createLabEngine, STRATEGY_NAMES, type StrategyName } from '@keylane/engine/baselines';",
        "import { checkHistory, HistoryRecorder, type CheckResult } from '@keylane/checker';",
        "import { parseLongId, type LongIdInput } from '@keylane/protocol';",
        "const options: ClientOptions = { instances: ['http://127.0.0.1:1'], routing: 'consistent' };",
        'const client = createClient(options);',
        'const item: Promise<Item | null> = client.get(1n);',
        "client.on('instance-down', (id: string, reason: string) => console.log(id, reason));",
        "const id: string = createRouter('modulo').pick(routingKey(42n), ['a', 'b']);",
        'const e: NoHealthyInstanceError = new NoHealthyInstanceError();',
        "const code: 'no_healthy_instance' = e.code;",
        "const engineOptions: EngineOptions = { postgres: { connectionString: 'postgres://x' }, redis: { url: 'redis://x' }, lanes: DEFAULTS.lanes };",
        'const stats: Promise<EngineStats> = createEngine(engineOptions).then((engine) => engine.stats());',
        "const name: Promise<string | null> = createEngine(engineOptions).then((engine) => engine.entity({ name: 'users', load: async () => ({ name: 'x' }) }).get(1n)).then((user) => user?.name ?? null);",
        'const items: Promise<Items> = createEngine(engineOptions).then((engine) => createItems(engine));',
        'const lab = createLabEngine({ ...engineOptions, strategy: STRATEGY_NAMES[0] as StrategyName });',
        '// @ts-expect-error the main entry has no strategy: no setting turns the guard off',
        "void createEngine({ postgres: { connectionString: 'x' }, redis: { url: 'x' }, strategy: 'cache-aside' });",
        'const result: CheckResult = checkHistory(new HistoryRecorder().operations);',
        "const key: LongIdInput = parseLongId('1');",
        '// @ts-expect-error routing is a closed set',
        "createClient({ instances: [], routing: 'random' });",
        'void item; void id; void code; void stats; void result; void key; void name; void items; void lab;',
      ].join('\n'),
    );
    await writeFile(
      join(app, 'check-cjs.cts'),
      [
        "import sdk = require('@keylane/sdk');",
        "import engine = require('@keylane/engine');",
        "import checker = require('@keylane/checker');",
        "import protocol = require('@keylane/protocol');",
        "const id: bigint = protocol.parseLongId('-9223372036854775808');",
        "const pick: string = sdk.createRouter('modulo').pick(sdk.routingKey(id), ['a']);",
        "const failure: Promise<never> = engine.createEngine({ postgres: { connectionString: '' }, redis: { url: '' } }).then(() => { throw new Error('accepted'); });",
        "const kind: checker.ViolationKind = 'stale-read';",
        '// @ts-expect-error lanes is a number',
        "void engine.createEngine({ postgres: { connectionString: 'x' }, redis: { url: 'x' }, lanes: '4' });",
        'void pick; void failure; void kind;',
      ].join('\n'),
    );
    await writeFile(
      join(app, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          target: 'ES2022',
          noEmit: true,
          types: ['node'],
          typeRoots: [join(REPO_ROOT, 'node_modules/@types')],
        },
        files: ['check-esm.mts', 'check-cjs.cts'],
      }),
    );
    await run(join(REPO_ROOT, 'node_modules/.bin/tsc'), ['-p', 'tsconfig.json'], app);
  }, 60_000);
});
