import {
  existsSync,
  lstatSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, normalize } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { HEALTH_LIVE_PATH } from '@keylane/protocol';
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
} from '@keylane/test-kit';
import { dockerIgnore, emulateDockerBuild, type EmulatedBuild } from './lib/docker-build.js';
import {
  envOf,
  instructionsOf,
  lastOf,
  parseDockerfile,
  stage,
  type Dockerfile,
} from './lib/dockerfile.js';
import { readJson, readRepoFile, REPO_ROOT } from './lib/repo.js';

/**
 * The Dockerfiles, first as text (stages, user, command, health check, environment), then by
 * running their build stages in a temporary folder (test/lib/docker-build.ts) and starting the
 * runtime stage's command from the folder that stands in for the image's /app.
 */

interface Image {
  dockerfile: string;
  packageDir: string;
  packageName: string;
  binName: string;
}

const ITEM_SERVICE: Image = {
  dockerfile: 'docker/item-service.Dockerfile',
  packageDir: 'services/item-service',
  packageName: '@keylane/item-service',
  binName: 'keylane-item-service',
};
const CALLER: Image = {
  dockerfile: 'docker/example-caller.Dockerfile',
  packageDir: 'services/example-caller',
  packageName: '@keylane/example-caller',
  binName: 'keylane-example-caller',
};

interface Manifest {
  name: string;
  bin: Record<string, string>;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  engines?: { node?: string };
  packageManager?: string;
}

const ROOT_MANIFEST = readJson<Manifest>('package.json');

function runtimeOf(file: Dockerfile): ReturnType<typeof stage> {
  return file.stages.at(-1)!;
}

describe.each([ITEM_SERVICE, CALLER])('$dockerfile as text', (image) => {
  const file = parseDockerfile(readRepoFile(image.dockerfile));
  const runtime = runtimeOf(file);
  const manifest = readJson<Manifest>(`${image.packageDir}/package.json`);

  it('has the prune, build and runtime stages, the runtime on the same Node image as the build', () => {
    expect(file.stages.map((s) => s.name)).toEqual(['base', 'prune', 'build', 'runtime']);
    expect(runtime.from).toBe(stage(file, 'base').from);
    // The image's Node major is the one package.json's engines field names.
    const major = /(\d+)/.exec(manifest.engines?.node ?? '')?.[1];
    expect(runtime.from).toMatch(new RegExp(`^node:${major}\\.`));
  });

  it('pins the pnpm of packageManager and the turbo of the lockfile', () => {
    expect(`pnpm@${file.globalArgs['PNPM_VERSION']}`).toBe(ROOT_MANIFEST.packageManager);
    expect(file.globalArgs['TURBO_VERSION']).toBe(
      readJson<{ version: string }>('node_modules/turbo/package.json').version,
    );
  });

  it('prunes, builds and deploys this package and no other', () => {
    const runs = [
      ...instructionsOf(stage(file, 'prune'), 'RUN'),
      ...instructionsOf(stage(file, 'build'), 'RUN'),
    ].map((i) => i.rest);
    expect(runs.some((r) => r.includes(` prune ${image.packageName} --docker `))).toBe(true);
    expect(runs.some((r) => r.includes(`turbo run build --filter=${image.packageName}...`))).toBe(
      true,
    );
    expect(runs.some((r) => r.includes(`--filter=${image.packageName} deploy --prod`))).toBe(true);
    expect(runs.some((r) => r.startsWith('pnpm install --frozen-lockfile'))).toBe(true);
  });

  it('runs as node, from /app, with NODE_ENV=production', () => {
    expect(lastOf(runtime, 'USER')?.rest).toBe('node');
    expect(lastOf(runtime, 'WORKDIR')?.rest).toBe('/app');
    expect(envOf(runtime)['NODE_ENV']).toBe('production');
    // No build stage sets NODE_ENV: pnpm would then skip the dev dependencies the build needs.
    for (const s of file.stages.slice(0, -1)) expect(envOf(s)['NODE_ENV']).toBeUndefined();
  });

  it("starts the package's bin in exec form, so SIGTERM reaches node", () => {
    expect(lastOf(runtime, 'ENTRYPOINT')).toBeUndefined();
    const cmd = lastOf(runtime, 'CMD')?.exec;
    expect(cmd).toBeDefined();
    expect(cmd![0]).toBe('node');
    expect(normalize(cmd![1]!)).toBe(normalize(manifest.bin[image.binName]!));
    expect(lastOf(runtime, 'STOPSIGNAL')?.rest ?? 'SIGTERM').toBe('SIGTERM');
  });

  it('copies into the runtime stage only what the build stage deployed, nothing from the context', () => {
    const copies = instructionsOf(runtime, 'COPY');
    expect(copies.length).toBeGreaterThan(0);
    for (const copy of copies) {
      expect(copy.flags['from']).toEqual(['build']);
      expect(copy.rest).toMatch(/^\/deploy\//);
    }
    expect(instructionsOf(runtime, 'RUN')).toEqual([]);
  });

  if (image === ITEM_SERVICE) {
    it('checks liveness in exec form and exposes the port it listens on', () => {
      const check = lastOf(runtime, 'HEALTHCHECK');
      expect(check?.exec?.[0]).toBe('node');
      expect(check!.exec!.join(' ')).toContain(HEALTH_LIVE_PATH);
      const port = envOf(runtime)['KEYLANE_PORT'];
      expect(port).toBeDefined();
      expect(instructionsOf(runtime, 'EXPOSE').map((e) => e.rest)).toEqual([port]);
    });
  }
});

describe('.dockerignore, as the emulated build applies it', () => {
  it('keeps installed and built files out at any depth, and sources in', () => {
    const ignored = dockerIgnore();
    for (const path of [
      'node_modules',
      'services/item-service/node_modules/fastify',
      'packages/sdk/dist/index.js',
      '.git/HEAD',
      'packages/engine/tsconfig.build.tsbuildinfo',
      '.env',
    ]) {
      expect([path, ignored(path)]).toEqual([path, true]);
    }
    for (const path of [
      'services/item-service/src/bin.ts',
      'pnpm-lock.yaml',
      'tsconfig.base.json',
      'docker/compose.yaml',
    ]) {
      expect([path, ignored(path)]).toEqual([path, false]);
    }
  });

  it('lets node_modules through when the rule is missing', () => {
    const without = readRepoFile('.dockerignore').replace('**/node_modules\n', '');
    expect(dockerIgnore(without)('services/item-service/node_modules/fastify')).toBe(false);
  });
});

/** Files and folders under `dir` whose name is one of `names`, relative to `dir`. */
function findNamed(dir: string, names: ReadonlySet<string>, depth = 6, prefix = ''): string[] {
  if (depth === 0) return [];
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = prefix === '' ? entry.name : `${prefix}/${entry.name}`;
    if (names.has(entry.name)) out.push(path);
    if (entry.isDirectory() && !entry.isSymbolicLink())
      out.push(...findNamed(join(dir, entry.name), names, depth - 1, path));
  }
  return out;
}

/** The folder Node would load `name` from when required from `fromDir`. */
function locatePackage(fromDir: string, name: string): string | undefined {
  for (let dir = fromDir; ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', name);
    if (existsSync(join(candidate, 'package.json'))) return candidate;
    if (dirname(dir) === dir) return undefined;
  }
}

/**
 * Names of the packages the production dependencies of `root/package.json` pull in, followed
 * the way Node resolves them (dependencies, optional and peer dependencies, transitively). A
 * dev tool found among them is there because production code needs it: `@keylane/engine`'s
 * published declarations need `@types/pg`, which needs `@types/node`.
 */
function productionClosure(root: string): Set<string> {
  const names = new Set<string>();
  const seen = new Set<string>();
  const visit = (from: string, manifest: Manifest): void => {
    const deps = {
      ...manifest.dependencies,
      ...manifest.optionalDependencies,
      ...manifest.peerDependencies,
    };
    for (const name of Object.keys(deps)) {
      const dir = locatePackage(from, name);
      if (!dir) continue;
      const real = realpathSync(dir);
      if (seen.has(real)) continue;
      seen.add(real);
      names.add(name);
      visit(real, JSON.parse(readFileSync(join(real, 'package.json'), 'utf8')) as Manifest);
    }
  };
  visit(root, JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as Manifest);
  return names;
}

/**
 * Dev-only packages (the root's and the package's devDependencies, and the usual suspects)
 * found in `nodeModules` that no production dependency of the folder above it pulls in.
 */
function devPackagesIn(nodeModules: string, image: Image): string[] {
  const devOnly = new Set([
    'jest',
    'typescript',
    'ts-jest',
    'eslint',
    '@keylane/test-kit',
    ...Object.keys(ROOT_MANIFEST.devDependencies ?? {}),
    ...Object.keys(readJson<Manifest>(`${image.packageDir}/package.json`).devDependencies ?? {}),
  ]);
  const needed = productionClosure(dirname(nodeModules));
  return [...installedPackages(nodeModules)]
    .filter((name) => devOnly.has(name) && !needed.has(name))
    .sort();
}

/** Packages installed in a pnpm node_modules, by name (`.pnpm/<name>@<version>` folders). */
function installedPackages(nodeModules: string): Set<string> {
  const names = new Set(
    readdirSync(join(nodeModules, '.pnpm'))
      .filter((entry) => entry !== 'node_modules' && entry !== 'lock.yaml')
      .map((entry) => entry.replace(/^(@?[^@]+)@.*$/, '$1').replace(/^@([^+]+)\+/, '@$1/')),
  );
  // Top-level links too: workspace packages are linked there, not stored under .pnpm.
  for (const entry of readdirSync(nodeModules).filter((e) => !e.startsWith('.'))) {
    if (entry.startsWith('@'))
      for (const scoped of readdirSync(join(nodeModules, entry))) names.add(`${entry}/${scoped}`);
    else names.add(entry);
  }
  return names;
}

describe('the Dockerfiles, built without Docker', () => {
  const work = mkdtempSync(join(tmpdir(), 'keylane-docker-'));
  let ctx: TestContext;
  let service: EmulatedBuild;
  let caller: EmulatedBuild;
  let running: Proc | undefined;
  let origin = '';
  const imageEnv = (
    build: EmulatedBuild,
    extra: Record<string, string>,
  ): Record<string, string> => ({
    ...build.runtime.env,
    ...extra,
  });

  beforeAll(async () => {
    // Nothing above the temporary folder may hold a node_modules, or the runs below could
    // resolve packages the image does not have.
    for (let dir = work; dir !== dirname(dir); dir = dirname(dir)) {
      expect(existsSync(join(dirname(dir), 'node_modules'))).toBe(false);
    }
    ctx = await createTestContext({ name: 'deploy_docker' });
    // One after the other (side by side was slower on this two-core machine), sharing turbo's
    // cache as Docker's layer cache would: the caller's build reuses the packages both build.
    const turboCacheDir = join(work, 'turbo-cache');
    service = await emulateDockerBuild(
      join(REPO_ROOT, ITEM_SERVICE.dockerfile),
      join(work, 'item-service'),
      100_000,
      {
        turboCacheDir,
      },
    );
    caller = await emulateDockerBuild(
      join(REPO_ROOT, CALLER.dockerfile),
      join(work, 'example-caller'),
      70_000,
      {
        turboCacheDir,
      },
    );
    // The log of what ran and how long each step took, for a slow or failing run.
    process.stdout.write(`${[...service.transcript, ...caller.transcript].join('\n')}\n`);
  }, 175_000);

  afterAll(async () => {
    if (running) await stopProcess(running);
    killAll();
    await ctx?.dispose();
    rmSync(work, { recursive: true, force: true });
  }, 30_000);

  it.each([
    ['item-service', (): EmulatedBuild => service, ITEM_SERVICE],
    ['example-caller', (): EmulatedBuild => caller, CALLER],
  ])(
    '%s: /app holds the CMD file, package.json and production dependencies only',
    (_name, build, image) => {
      const app = build().runtime.workdir;
      expect(readdirSync(app).sort()).toEqual(['dist', 'node_modules', 'package.json']);
      const cmd = lastOf(build().runtime.stage, 'CMD')!.exec!;
      expect(readFileSync(join(app, cmd[1]!), 'utf8').startsWith('#!/usr/bin/env node\n')).toBe(
        true,
      );
      expect(readJson<Manifest>(`${image.packageDir}/package.json`).name).toBe(
        (JSON.parse(readFileSync(join(app, 'package.json'), 'utf8')) as Manifest).name,
      );

      const installed = installedPackages(join(app, 'node_modules'));
      expect(installed.size).toBeGreaterThan(0);
      expect(devPackagesIn(join(app, 'node_modules'), image)).toEqual([]);
      // Workspace packages arrive as their published files: built code, no sources or tests.
      const sources = findNamed(
        join(app, 'node_modules', '.pnpm'),
        new Set(['src', 'test', 'tsconfig.json']),
        5,
      ).filter((p) => p.startsWith('@keylane+'));
      expect(sources).toEqual([]);
      // pnpm links are relative, so they survive the COPY into another root.
      expect(
        lstatSync(
          join(app, 'node_modules', '@keylane', image === CALLER ? 'sdk' : 'engine'),
        ).isSymbolicLink(),
      ).toBe(true);
    },
  );

  it('sends Docker a context without installed or built files (.dockerignore)', () => {
    // The prune stage's `COPY . .` is the context as the emulation filtered it.
    const context = join(service.roots.get('prune')!, 'src');
    expect(existsSync(join(context, 'pnpm-lock.yaml'))).toBe(true);
    expect(
      findNamed(
        context,
        new Set(['node_modules', 'dist', '.git', '.turbo', '.jest-results.json']),
        4,
      ),
    ).toEqual([]);
  });

  it('finds dev dependencies where they are: in the build stage, which copying /app would ship', () => {
    const found = devPackagesIn(
      join(service.roots.get('build')!, 'app', 'node_modules'),
      ITEM_SERVICE,
    );
    expect(found).toEqual(expect.arrayContaining(['jest', 'ts-jest', 'typescript']));
  });

  it('fails when the runtime stage copies a path the build stage does not produce', async () => {
    const text = readRepoFile(ITEM_SERVICE.dockerfile).replace(
      'COPY --from=build /deploy/dist ./dist',
      'COPY --from=build /deploy/lib ./lib',
    );
    await expect(
      emulateDockerBuild(join(REPO_ROOT, ITEM_SERVICE.dockerfile), join(work, 'doctored'), 10_000, {
        text,
        reuse: new Map([...service.roots].filter(([name]) => name !== 'runtime')),
      }),
    ).rejects.toThrow('COPY source /deploy/lib does not exist in stage build');
  });

  it('item-service: with a bad environment the CMD exits 78 with the one-line config error', async () => {
    const cmd = lastOf(service.runtime.stage, 'CMD')!.exec!;
    const proc = startProcess(
      join(service.runtime.workdir, cmd[1]!),
      imageEnv(service, { KEYLANE_LANES: '0' }),
      {
        cwd: service.runtime.workdir,
      },
    );
    const { code } = await proc.exit;
    expect(code).toBe(78);
    expect(proc.stderr.join('')).toBe(
      'keylane-item-service: invalid configuration: KEYLANE_LANES="0" is not allowed; expected an integer from 1 to 1024\n',
    );
  });

  it('item-service: with a good environment the CMD becomes ready, and the HEALTHCHECK command passes', async () => {
    const port = await getFreePort();
    const env = imageEnv(service, {
      KEYLANE_PORT: String(port),
      KEYLANE_INSTANCE_ID: 'image-1',
      KEYLANE_DATABASE_URL: ctx.databaseUrl,
      KEYLANE_DB_SCHEMA: ctx.schema,
      KEYLANE_REDIS_URL: ctx.redisUrl,
      KEYLANE_CACHE_PREFIX: ctx.prefix,
      KEYLANE_DRAIN_MS: '0',
      KEYLANE_LANES: '2',
    });
    expect(env['NODE_ENV']).toBe('production');
    const cmd = lastOf(service.runtime.stage, 'CMD')!.exec!;
    running = startProcess(join(service.runtime.workdir, cmd[1]!), env, {
      cwd: service.runtime.workdir,
    });
    origin = `http://127.0.0.1:${port}`;
    await waitHttpOk(running, `${origin}/healthz/ready`);

    const check = lastOf(service.runtime.stage, 'HEALTHCHECK')!.exec!;
    const healthy = startProcess(check.slice(1), env, { cwd: service.runtime.workdir });
    expect((await healthy.exit).code).toBe(0);
  });

  it('example-caller: refuses a bad environment, then serves keys from the item-service built beside it', async () => {
    expect(origin).not.toBe('');
    const cmd = lastOf(caller.runtime.stage, 'CMD')!.exec!;
    const bin = join(caller.runtime.workdir, cmd[1]!);
    const bad = startProcess(bin, imageEnv(caller, {}), { cwd: caller.runtime.workdir });
    expect((await bad.exit).code).toBe(78);
    expect(bad.stderr.join('').trim().split('\n')).toHaveLength(1);

    const proc = startProcess(
      bin,
      imageEnv(caller, { KEYLANE_INSTANCES: origin, KEYLANE_CALLER_INTERVAL_MS: '100' }),
      {
        cwd: caller.runtime.workdir,
      },
    );
    const deadline = Date.now() + 15_000;
    const served = (): number =>
      parseJsonLines(proc.lines).filter((l) => l['msg'] === 'served').length;
    while (Date.now() < deadline && served() < 5) await sleep(100);
    expect(await stopProcess(proc)).toEqual({ code: 0, signal: null });
    expect(served()).toBeGreaterThanOrEqual(5);
  });

  it('item-service: stops on SIGTERM with exit 0, after which the HEALTHCHECK command fails', async () => {
    expect(await stopProcess(running!)).toEqual({ code: 0, signal: null });
    running = undefined;
    const check = lastOf(service.runtime.stage, 'HEALTHCHECK')!.exec!;
    const port = new URL(origin).port;
    const unhealthy = startProcess(check.slice(1), imageEnv(service, { KEYLANE_PORT: port }), {
      cwd: service.runtime.workdir,
    });
    expect((await unhealthy.exit).code).toBe(1);
  });
});
