import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { beforeAll, describe, expect, it } from '@jest/globals';
import { Cluster, CommandError, ITEM_SERVICES, REPO_ROOT } from './lib/cluster.js';

/**
 * The images docker/testing/cluster.sh built with the project's own Dockerfiles, looked at
 * from the inside: what the runtime stage holds, what the build context was, the CMD and the
 * HEALTHCHECK in real containers. (packages/deploy-tests checks the same files as text.)
 */

const IMAGES = {
  'item-service': { image: 'keylane/item-service:local', packageDir: 'services/item-service', dockerfile: 'docker/item-service.Dockerfile' },
  'example-caller': { image: 'keylane/example-caller:local', packageDir: 'services/example-caller', dockerfile: 'docker/example-caller.Dockerfile' },
} as const;

interface Manifest {
  name: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
}

const readJson = <T>(path: string): T => JSON.parse(readFileSync(join(REPO_ROOT, path), 'utf8')) as T;

/** Packages a pnpm node_modules holds, by name: `.pnpm/<name>@<version>` folders and top-level links. */
const LIST_PACKAGES = `
const fs = require('fs'), path = require('path');
const root = process.argv[1], names = new Set();
for (const e of fs.readdirSync(path.join(root, '.pnpm')))
  if (e !== 'node_modules' && e !== 'lock.yaml') names.add(e.replace(/^(@?[^@]+)@.*$/, '$1').replace(/^@([^+]+)\\+/, '@$1/'));
for (const e of fs.readdirSync(root).filter((e) => !e.startsWith('.')))
  if (e.startsWith('@')) for (const s of fs.readdirSync(path.join(root, e))) names.add(e + '/' + s);
  else names.add(e);
process.stdout.write(JSON.stringify([...names]));
`;

/** The folder Node would load `name` from when required from `fromDir`. */
function locatePackage(fromDir: string, name: string): string | undefined {
  for (let dir = fromDir; ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', name);
    if (existsSync(join(candidate, 'package.json'))) return candidate;
    if (dirname(dir) === dir) return undefined;
  }
}

/**
 * Names the production dependencies of a workspace package pull in, followed as Node resolves
 * them in the workspace install. A dev tool among them ships because production code needs it:
 * `@keylane/engine`'s published declarations need `@types/pg`, which needs `@types/node`.
 */
function productionClosure(packageDir: string): Set<string> {
  const names = new Set<string>();
  const seen = new Set<string>();
  const visit = (from: string): void => {
    const manifest = JSON.parse(readFileSync(join(from, 'package.json'), 'utf8')) as Manifest;
    for (const name of Object.keys({ ...manifest.dependencies, ...manifest.optionalDependencies, ...manifest.peerDependencies })) {
      const dir = locatePackage(from, name);
      if (!dir) continue;
      const real = realpathSync(dir);
      if (seen.has(real)) continue;
      seen.add(real);
      names.add(name);
      visit(real);
    }
  };
  visit(join(REPO_ROOT, packageDir));
  return names;
}

/** Dev-only packages: the root's and the package's dev tools that no production dependency needs. */
function devOnly(packageDir: string): Set<string> {
  const needed = productionClosure(packageDir);
  return new Set([
    'jest',
    'typescript',
    'ts-jest',
    'eslint',
    '@keylane/harness',
    ...Object.keys(readJson<Manifest>('package.json').devDependencies ?? {}),
    ...Object.keys(readJson<Manifest>(`${packageDir}/package.json`).devDependencies ?? {}),
  ].filter((name) => !needed.has(name)));
}

describe('the images, built by docker/testing/cluster.sh with the project Dockerfiles', () => {
  let cluster: Cluster;
  /** `docker run --rm` of an image with another entrypoint, as root unless told. */
  const inImage = (image: string, entrypoint: string, args: string[], user?: string): Promise<string> =>
    cluster.docker(['run', '--rm', ...(user ? ['--user', user] : []), '--entrypoint', entrypoint, image, ...args]);
  const packagesIn = async (image: string, nodeModules: string): Promise<string[]> =>
    JSON.parse(await inImage(image, 'node', ['-e', LIST_PACKAGES, nodeModules])) as string[];

  beforeAll(async () => {
    cluster = await Cluster.up();
  }, 15 * 60_000);

  it.each(Object.entries(IMAGES))('%s: /app holds the built code, package.json and production dependencies only', async (_name, spec) => {
    expect((await inImage(spec.image, 'ls', ['-A', '/app'])).split('\n').filter(Boolean).sort()).toEqual(['dist', 'node_modules', 'package.json']);
    const installed = await packagesIn(spec.image, '/app/node_modules');
    expect(installed.length).toBeGreaterThan(0);
    const dev = devOnly(spec.packageDir);
    expect(installed.filter((name) => dev.has(name))).toEqual([]);
    // Workspace packages arrive as their packed files: built code, no sources, tests or tsconfig.
    const sources = await inImage(spec.image, 'sh', ['-c', 'find /app/node_modules/.pnpm -maxdepth 5 -path "*@keylane+*" \\( -name src -o -name test -o -name tsconfig.json \\) | head -5']);
    expect(sources.trim()).toBe('');
    expect(readJson<Manifest>(`${spec.packageDir}/package.json`).name).toBe(
      (JSON.parse(await inImage(spec.image, 'cat', ['/app/package.json'])) as Manifest).name,
    );
  }, 120_000);

  it.each(Object.entries(IMAGES))('%s: runs as node (uid 1000), which cannot write its own code', async (_name, spec) => {
    expect((await cluster.docker(['run', '--rm', '--entrypoint', 'id', spec.image, '-u'])).trim()).toBe('1000');
    const writable = await cluster.docker(['run', '--rm', '--entrypoint', 'sh', spec.image, '-c', 'test -w /app/dist && echo writable || echo read-only']);
    expect(writable.trim()).toBe('read-only');
  });

  it('the build stage does hold the dev dependencies (what copying all of it would ship), so the check above can fail', async () => {
    await cluster.build('item-service', ['--target', 'build', '-t', 'keylane/item-service:build-stage']);
    const installed = await packagesIn('keylane/item-service:build-stage', '/app/node_modules');
    expect(installed).toEqual(expect.arrayContaining(['jest', 'ts-jest', 'typescript']));
  }, 600_000);

  it('the build context has no installed or built files (.dockerignore), and has the lockfile', async () => {
    await cluster.build('item-service', ['--target', 'prune', '-t', 'keylane/item-service:prune-stage']);
    const found = await inImage('keylane/item-service:prune-stage', 'sh', ['-c',
      'test -f /src/pnpm-lock.yaml && echo lockfile; find /src -maxdepth 4 \\( -name node_modules -o -name dist -o -name .git -o -name .turbo -o -name .jest-results.json \\) | head -5']);
    expect(found.trim().split('\n')).toEqual(['lockfile']);
  }, 600_000);

  it('a runtime COPY of a path the build stage does not produce fails the real build', async () => {
    const doctored = readFileSync(join(REPO_ROOT, IMAGES['item-service'].dockerfile), 'utf8').replace(
      'COPY --from=build /deploy/dist ./dist',
      'COPY --from=build /deploy/lib ./lib',
    );
    expect(doctored).toContain('/deploy/lib');
    const err = await cluster.build('item-service', ['-f', '-', '-t', 'keylane/item-service:doctored'], doctored).then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(CommandError);
    expect((err as CommandError).stderr).toMatch(/\/deploy\/lib.*not found/);
  }, 600_000);

  it('item-service: a bad environment exits 78 with the one-line config error', async () => {
    const run = cluster.docker(['run', '--rm', '-e', 'KEYLANE_LANES=0', IMAGES['item-service'].image]);
    const err = (await run.then(() => null, (e: unknown) => e)) as CommandError | null;
    expect(err).toBeInstanceOf(CommandError);
    expect(err?.stderr).toBe(
      'keylane-item-service: invalid configuration: KEYLANE_LANES="0" is not allowed; expected an integer from 1 to 1024\n',
    );
    expect(err?.exitCode).toBe(78);
  });

  it('example-caller: a bad environment exits 78 with one line', async () => {
    const err = (await cluster.docker(['run', '--rm', IMAGES['example-caller'].image]).then(() => null, (e: unknown) => e)) as CommandError | null;
    expect(err?.exitCode).toBe(78);
    expect(err?.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('the HEALTHCHECK: every running instance is healthy; the same command fails where nothing listens', async () => {
    // Docker's own verdict; polled, because on a loaded machine a probe can miss its 2 s timeout
    // and one verdict flip to unhealthy until the next probe passes.
    for (const service of ITEM_SERVICES) {
      const deadline = Date.now() + 60_000;
      let status = await cluster.inspect(service, '{{.State.Health.Status}}');
      while (status !== 'healthy' && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 1_000));
        status = await cluster.inspect(service, '{{.State.Health.Status}}');
      }
      expect([service, status]).toEqual([service, 'healthy']);
    }
    const test = JSON.parse(await cluster.inspect('item-1', '{{json .Config.Healthcheck.Test}}')) as string[];
    expect(test[0]).toBe('CMD');
    const id = await cluster.containerId('item-1');
    await cluster.docker(['exec', id, ...test.slice(1)]);
    const failed = await cluster.docker(['exec', '-e', 'KEYLANE_PORT=1', id, ...test.slice(1)]).then(() => null, (e: unknown) => e);
    expect((failed as CommandError | null)?.exitCode).toBe(1);
  }, 240_000);
});
