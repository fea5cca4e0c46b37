import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { build } from 'esbuild';
import {
  createTestContext,
  startProcess,
  stopProcess,
  TEST_DATABASE_URL,
  TEST_REDIS_URL,
  type TestContext,
} from '@keylane/harness';
import {
  publishedCli,
  publishedLibraries,
  publishedPackages,
  REPO_ROOT,
  run,
  tarballFiles,
  workspacePackages,
  type Manifest,
} from './lib/packages.js';
import { installTarballs, packPublishedOnce, Timings, unpack, type PackedSet } from './lib/tarballs.js';

/**
 * `npx keylane` as a user gets it: the CLI's tarball (its private workspace code bundled by its
 * prepack, packages/cli/scripts/bundle.mjs) installed with npm beside the four library tarballs
 * (its dependencies, not on any registry here) into a scratch project outside the repository,
 * then run: the version, the demo routed (item-service processes started from the bundle) and
 * embedded (child processes started from the bundle), and `keylane up` of the cart service
 * with the snippet it prints run against the packed SDK.
 */

const CLI = publishedCli();
const REPOSITORY_URL = 'git+https://github.com/keylane/keylane.git';

let packedSet: PackedSet;
let tarball: string;
let scratch: string;
let unpacked: string;
let app: string;
const timings = new Timings();
const timed = timings.timed.bind(timings);

const manifestOf = async (dir: string): Promise<Manifest> =>
  JSON.parse(await readFile(join(dir, 'package.json'), 'utf8')) as Manifest;

/** The name of a bare import: `@keylane/engine/baselines` -> `@keylane/engine`. */
const packageName = (specifier: string): string =>
  specifier
    .split('/')
    .slice(0, specifier.startsWith('@') ? 2 : 1)
    .join('/');

/** The rows of the markdown table whose header starts with `first`, as header -> cell. */
function tableRows(text: string, first: string): Record<string, string>[] {
  const lines = text.split('\n');
  const start = lines.findIndex((l) => l.startsWith(`| ${first} `));
  if (start < 0) throw new Error(`no table starting with "${first}" in:\n${text}`);
  const cells = (line: string): string[] =>
    line
      .split('|')
      .slice(1, -1)
      .map((c) => c.trim());
  const header = cells(lines[start]!);
  const rows: Record<string, string>[] = [];
  for (const line of lines.slice(start + 2)) {
    if (!line.startsWith('|')) break;
    rows.push(Object.fromEntries(cells(line).map((c, i) => [header[i]!, c])));
  }
  return rows;
}

const count = (cell: string | undefined): number => Number((cell ?? 'NaN').replace(/,/g, ''));

beforeAll(async () => {
  packedSet = await timed('packing', packPublishedOnce);
  tarball = packedSet.tarballs.get(CLI.manifest.name)!;
  scratch = await mkdtemp(join(tmpdir(), 'keylane-cli-tarball-'));
  unpacked = await unpack(tarball, join(scratch, 'cli'));
  // All five: the CLI's @keylane/* dependencies come from their tarballs, as they would from npm.
  const installed = await installTarballs('keylane-user', publishedPackages(), packedSet);
  app = installed.app;
  timings.add('npm install', installed.seconds);
}, 240_000);

afterAll(async () => {
  process.stderr.write(`npx-keylane: ${[...(packedSet?.timings ?? []), ...timings.lines].join(', ')}\n`);
  if (scratch) await rm(scratch, { recursive: true, force: true });
  if (app) await rm(app, { recursive: true, force: true });
});

describe('the @keylane/cli tarball', () => {
  it('holds the bundle, README, CHANGELOG, LICENSE and its manifest, and nothing else', async () => {
    const files = await tarballFiles(tarball);
    expect(files.filter((f) => !f.startsWith('bundle/'))).toEqual(
      ['CHANGELOG.md', 'LICENSE', 'README.md', 'package.json'].sort(),
    );
    const bundle = files.filter((f) => f.startsWith('bundle/'));
    expect(bundle).toContain('bundle/bin.js');
    // The services the fleet starts, and the scripts the CLI and the bench fork, by name.
    for (const entry of ['keylane-item-service', 'keylane-cart-service', 'embedded-child']) {
      expect(bundle).toContain(`bundle/${entry}.js`);
    }
    expect(bundle.filter((f) => !/^bundle\/[^/]+\.js(\.map)?$/.test(f))).toEqual([]);
    expect(await readFile(join(unpacked, 'LICENSE'), 'utf8')).toBe(
      await readFile(join(REPO_ROOT, 'LICENSE'), 'utf8'),
    );
    const changelog = await readFile(join(unpacked, 'CHANGELOG.md'), 'utf8');
    expect(changelog.startsWith(`# ${CLI.manifest.name}\n`)).toBe(true);
    expect(/^## (\S+)$/m.exec(changelog)?.[1]).toBe(CLI.manifest.version);
  });

  it("has a manifest with no workspace: range, a bin into the bundle, no library entry, and the libraries' metadata", async () => {
    const manifest = await manifestOf(unpacked);
    expect(JSON.stringify(manifest)).not.toContain('workspace:');
    expect(manifest.bin).toEqual({ keylane: './bundle/bin.js' });
    // A command, not a library: its modules are bundled, with no types to import them by.
    expect(manifest.main).toBeUndefined();
    expect(manifest.types).toBeUndefined();
    expect(manifest.exports).toEqual({ './package.json': './package.json' });
    expect(manifest.scripts?.['prepack']).toBeUndefined();
    expect(manifest.license).toBe('MIT');
    expect(manifest.repository).toEqual({ type: 'git', url: REPOSITORY_URL, directory: CLI.dir });
    expect(manifest.keywords).toContain('keylane');
    expect(manifest.publishConfig).toEqual({ access: 'public' });
    // Its @keylane/* dependencies are the published libraries at caret ranges of their versions
    // (one copy of @keylane/protocol beside an app's own); no private package is one.
    const libraries = new Map(
      publishedLibraries().map((p) => [p.manifest.name, p.manifest.version]),
    );
    const privates = workspacePackages()
      .filter((p) => p.manifest.private === true)
      .map((p) => p.manifest.name);
    const deps = Object.entries(manifest.dependencies ?? {});
    expect(deps.filter(([d]) => privates.includes(d))).toEqual([]);
    expect(
      deps.filter(([d]) => d.startsWith('@keylane/')).sort(([a], [b]) => a.localeCompare(b)),
    ).toEqual([...libraries].sort(([a], [b]) => a.localeCompare(b)).map(([d, v]) => [d, `^${v}`]));
  });

  it('declares as dependencies exactly the packages its bundle imports (esbuild metafile of the packed files)', async () => {
    const bundleDir = join(unpacked, 'bundle');
    const entries = (await readdir(bundleDir)).filter((f) => f.endsWith('.js'));
    const { metafile } = await build({
      entryPoints: entries.map((f) => join(bundleDir, f)),
      bundle: true,
      splitting: true,
      format: 'esm',
      platform: 'node',
      packages: 'external',
      outdir: join(scratch, 'rebundled'),
      write: false,
      metafile: true,
      logLevel: 'silent',
    });
    const imported = new Set<string>();
    for (const output of Object.values(metafile.outputs)) {
      for (const { path, external } of output.imports) {
        if (external && !path.startsWith('node:')) imported.add(packageName(path));
      }
    }
    const manifest = await manifestOf(unpacked);
    expect([...imported].sort()).toEqual(Object.keys(manifest.dependencies ?? {}).sort());
  });

  it('has every file its code opens relative to itself, under the name it uses', async () => {
    const bundleDir = join(unpacked, 'bundle');
    const opened: { file: string; target: string; exists: boolean }[] = [];
    for (const file of (await readdir(bundleDir)).filter((f) => f.endsWith('.js'))) {
      const code = await readFile(join(bundleDir, file), 'utf8');
      for (const m of code.matchAll(
        /new URL\(\s*(["'])([^"'`$]+)\1\s*,\s*import\.meta\.url\s*\)/g,
      )) {
        const target = resolve(bundleDir, m[2]!);
        const exists = await readFile(target).then(
          () => true,
          () => false,
        );
        opened.push({ file, target: relative(unpacked, target), exists });
      }
    }
    // At least the CLI's version (../package.json) and the scripts it forks.
    expect(opened.map((o) => o.target)).toEqual(
      expect.arrayContaining(['package.json', 'bundle/embedded-child.js']),
    );
    expect(opened.filter((o) => !o.exists)).toEqual([]);
  });

  it('has source maps that resolve: each named map is in the tarball and carries the text of every source', async () => {
    const bundleDir = join(unpacked, 'bundle');
    const scripts = (await readdir(bundleDir)).filter((f) => f.endsWith('.js'));
    for (const file of scripts) {
      const code = await readFile(join(bundleDir, file), 'utf8');
      const url = /\/\/# sourceMappingURL=(\S+)\s*$/.exec(code)?.[1];
      expect({ file, url }).toEqual({ file, url: `${file}.map` });
      const map = JSON.parse(await readFile(join(bundleDir, url!), 'utf8')) as {
        sources: string[];
        sourcesContent?: (string | null)[];
      };
      expect({ file, inline: map.sourcesContent?.length }).toEqual({
        file,
        inline: map.sources.length,
      });
      expect(map.sourcesContent!.every((s) => typeof s === 'string')).toBe(true);
      // Mapped back through tsc's maps to the TypeScript the workspace holds, word for word.
      for (const [i, source] of map.sources.entries()) {
        const inRepo = resolve(dirname(join(REPO_ROOT, CLI.dir, 'bundle', file)), source);
        expect({ source, ts: inRepo.endsWith('.ts') }).toEqual({ source, ts: true });
        expect(map.sourcesContent![i]).toBe(await readFile(inRepo, 'utf8'));
      }
    }
  });
});

describe('npx keylane, installed with npm into a project outside the repository', () => {
  it('--version prints the packed version', async () => {
    const { stdout } = await run('npx', ['keylane', '--version'], app);
    expect(stdout).toBe(`${CLI.manifest.version}\n`);
  });

  it('demo --quick: serial-guarded shows no stale read, cache-aside shows some, and the report is written', async () => {
    const { stdout, stderr } = await timed('demo routed', () =>
      run(
        'npx',
        [
          'keylane',
          'demo',
          '--quick',
          '--strategies',
          'cache-aside,serial-guarded',
          '--no-progress',
          '--database-url',
          TEST_DATABASE_URL,
          '--redis-url',
          TEST_REDIS_URL,
        ],
        app,
      ),
    );
    expect(stderr).toBe('');
    const rows = tableRows(stdout, 'strategy');
    expect(rows.map((r) => r['strategy'])).toEqual(['cache-aside', 'serial-guarded']);
    const [cacheAside, guarded] = rows;
    expect(count(cacheAside!['stale reads (violations)'])).toBeGreaterThan(0);
    expect({
      stale: count(guarded!['stale reads (violations)']),
      diverged: count(guarded!['keys diverged at rest']),
      lost: count(guarded!['acked writes lost']),
    }).toEqual({ stale: 0, diverged: 0, lost: 0 });
    expect(count(guarded!['ops'])).toBeGreaterThan(0);
    // Split view and instance loss ran on fleets of the bundled item service too.
    const scenarios = tableRows(stdout, 'scenario');
    expect(scenarios.map((r) => `${r['scenario']} ${r['strategy']}`)).toEqual([
      'split-view serial',
      'split-view serial-guarded',
      'instance-loss serial',
      'instance-loss serial-guarded',
    ]);
    for (const r of scenarios.filter((s) => s['strategy'] === 'serial-guarded')) {
      expect(count(r['stale reads (violations)'])).toBe(0);
    }
    expect(stdout).toContain(
      'serial-guarded: no stale read, no diverged key, no lost acknowledged write in any run.',
    );
    // The JSON report and the chart, in ./keylane-demo of the folder it ran in.
    const report = /^report: (\S+)$/m.exec(stdout)?.[1];
    const chart = /^chart: {2}(\S+)$/m.exec(stdout)?.[1];
    expect(dirname(report!)).toBe(join(app, 'keylane-demo'));
    const json = JSON.parse(await readFile(report!, 'utf8')) as {
      claims: { serialGuardedSafe: boolean | null };
    };
    expect(json.claims.serialGuardedSafe).toBe(true);
    expect(await readFile(chart!, 'utf8')).toMatch(/^<svg /);
  }, 120_000);

  it('demo --quick --deployment embedded --entity carts: the forked processes come from the bundle too', async () => {
    const { stdout } = await timed('demo embedded', () =>
      run(
        'npx',
        [
          'keylane',
          'demo',
          '--quick',
          '--deployment',
          'embedded',
          '--entity',
          'carts',
          '--strategies',
          'cache-aside,serial-guarded',
          '--no-progress',
          '--no-out',
          '--database-url',
          TEST_DATABASE_URL,
          '--redis-url',
          TEST_REDIS_URL,
        ],
        app,
      ),
    );
    expect(stdout).toContain(
      '4 processes each embedding the engine (no fleet), carts + cart_lines',
    );
    const rows = tableRows(stdout, 'strategy');
    expect(rows.map((r) => r['strategy'])).toEqual(['cache-aside', 'serial-guarded']);
    expect(count(rows[0]!['stale reads (violations)'])).toBeGreaterThan(0);
    expect(count(rows[1]!['stale reads (violations)'])).toBe(0);
    expect(count(rows[1]!['ops'])).toBeGreaterThan(0);
  }, 60_000);

  describe('up --service carts', () => {
    let ctx: TestContext;
    beforeAll(async () => {
      ctx = await createTestContext({ name: 'npx_up' });
    });
    afterAll(async () => {
      await ctx?.dispose();
    });

    it('starts the bundled cart service, and the snippet it prints works with the packed SDK', async () => {
      const up = startProcess(
        [
          join(app, 'node_modules/.bin/keylane'),
          'up',
          '--service',
          'carts',
          '--instances',
          '2',
          '--lanes',
          '2',
          '--database-url',
          ctx.databaseUrl,
          '--redis-url',
          ctx.redisUrl,
          '--schema',
          ctx.schema,
          '--prefix',
          ctx.prefix,
        ],
        // No drain on the way out: nothing routes to these instances once the test is done.
        { KEYLANE_DRAIN_MS: '0' },
        { cwd: app },
      );
      try {
        const deadline = Date.now() + 45_000;
        while (!up.lines.some((l) => l.startsWith('Ctrl-C')) && Date.now() < deadline) {
          if (up.child.exitCode !== null) break;
          await sleep(100);
        }
        const stdout = up.lines.join('\n');
        expect({
          ready: stdout.includes('2 cart-service instances ready'),
          stderr: up.stderr.join(''),
        }).toEqual({ ready: true, stderr: '' });
        // What a user pastes: the lines between "Paste into a caller:" and "Ctrl-C", unindented.
        const snippet = stdout
          .slice(
            stdout.indexOf('Paste into a caller:') + 'Paste into a caller:'.length,
            stdout.indexOf('Ctrl-C'),
          )
          .split('\n')
          .map((l) => l.replace(/^ {2}/, ''))
          .join('\n');
        await writeFile(
          join(app, 'snippet.mjs'),
          `${snippet}\nconsole.log(JSON.stringify(cart));\nawait client.close();\n`,
        );
        const { stdout: out } = await run(process.execPath, ['snippet.mjs'], app);
        expect(JSON.parse(out)).toMatchObject({
          id: '42',
          lines: [{ sku: 'tea', qty: 2, priceCents: 450 }],
        });
      } finally {
        const exit = await stopProcess(up);
        expect({ exit, stderr: up.stderr.join('') }).toEqual({
          exit: { code: 0, signal: null },
          stderr: expect.stringContaining('all instances stopped'),
        });
      }
    }, 90_000);
  });
});
