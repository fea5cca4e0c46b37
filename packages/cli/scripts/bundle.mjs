// The `keylane` CLI's prepack (and `--clean`, its postpack). The CLI runs code of private
// workspace packages (the item and cart services, @keylane/harness) that are not
// on npm, so its tarball carries them: esbuild bundles the built workspace code into `bundle/`,
// and every other import (the published @keylane/* libraries, npm packages) stays an import
// that the tarball's `dependencies` must satisfy. The workspace itself keeps running the tsc
// build in `dist/`; `bundle/` exists only while packing.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { basename, delimiter, dirname, join, resolve } from 'node:path';
import process from 'node:process';
import { fileURLToPath, URL } from 'node:url';

const cliDir = fileURLToPath(new URL('..', import.meta.url));
const root = resolve(cliDir, '../..');
const outdir = join(cliDir, 'bundle');
const manifest = JSON.parse(readFileSync(join(cliDir, 'package.json'), 'utf8'));

if (process.argv.includes('--clean')) {
  rmSync(outdir, { recursive: true, force: true });
  process.exit(0);
}

// Build output goes to stderr only when it fails: stdout belongs to the packer.
function run(command, args) {
  const binDir = join(root, 'node_modules', '.bin');
  const env = { ...process.env, PATH: `${binDir}${delimiter}${process.env.PATH ?? ''}` };
  const result = spawnSync(command, args, { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
  if (result.error) throw result.error;
  if (result.status !== 0) {
    process.stderr.write(result.stdout);
    process.stderr.write(result.stderr);
    process.stderr.write(
      `bundle ${manifest.name}: ${command} ${args.join(' ')} exited ${result.status}\n`,
    );
    process.exit(result.status ?? 1);
  }
}

// The CLI and every workspace package it uses, dev dependencies included (the private ones are
// dev dependencies: needed to build the bundle, never installed by a user).
run(join(root, 'node_modules/.bin/turbo'), [
  'run',
  'build',
  `--filter=${manifest.name}...`,
  '--output-logs=errors-only',
]);

// Imported only now: they are the build just made.
const { build } = await import('esbuild');
const { FLEET_SERVICE_NAMES, resolveServiceBin, SERVICE_BUNDLE } =
  await import('../dist/fleet/index.js');

/** The name of a bare import: `@keylane/engine/baselines` -> `@keylane/engine`, `pg` -> `pg`. */
const packageName = (specifier) =>
  specifier
    .split('/')
    .slice(0, specifier.startsWith('@') ? 2 : 1)
    .join('/');

const isBuiltin = (specifier) =>
  specifier.startsWith('node:') || builtinModules.includes(packageName(specifier));

/** The manifest of the package a resolved file belongs to. */
function owningManifest(file, name) {
  for (let dir = dirname(file); dir !== dirname(dir); dir = dirname(dir)) {
    const candidate = join(dir, 'package.json');
    if (!existsSync(candidate)) continue;
    const found = JSON.parse(readFileSync(candidate, 'utf8'));
    if (found.name === name) return found;
  }
  return undefined;
}

// A private package cannot be installed from npm, so it goes into the bundle; anything else
// (a published @keylane/* library, an npm package) stays an import, which keeps one copy of
// @keylane/protocol's error classes in an app that also uses the libraries, and leaves
// third-party code to npm (its versions, its licences, its security updates).
const privateInBundle = {
  name: 'private-workspace-packages-only',
  setup(b) {
    b.onResolve({ filter: /^[^./]/ }, async (args) => {
      if (args.pluginData === 'inner' || isBuiltin(args.path)) return undefined;
      const resolved = await b.resolve(args.path, {
        kind: args.kind,
        importer: args.importer,
        resolveDir: args.resolveDir,
        pluginData: 'inner',
      });
      if (resolved.errors.length > 0) return { errors: resolved.errors };
      const name = packageName(args.path);
      if (resolved.external || owningManifest(resolved.path, name)?.private !== true) {
        return { path: args.path, external: true };
      }
      return resolved;
    });
  },
};

// Every process the CLI starts is an entry: its own bin, each fleet service (named as the
// fleet's resolveServiceBin looks for it in a bundle), and every script a bundled module
// starts by `new URL('./<name>.js', import.meta.url)` (found in the code, below), which must
// sit beside the bundled code under the same name. Chunks stay in the same folder for the
// same reason, and so that `new URL('../package.json', import.meta.url)` (the CLI's and the
// item service's version) finds this package's manifest.
const entryPoints = { bin: join(cliDir, 'dist/bin.js') };
for (const service of FLEET_SERVICE_NAMES) {
  entryPoints[SERVICE_BUNDLE.entryName(service)] = resolveServiceBin(service);
}

const options = {
  absWorkingDir: root, // the metafile's paths are relative to it
  entryPoints,
  outdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20.18',
  chunkNames: '[name]-[hash]',
  // The maps chain through tsc's to the TypeScript sources and carry their text: the tarball
  // has no sources (`node --enable-source-maps` then reports src/*.ts lines).
  sourcemap: 'linked',
  sourcesContent: true,
  define: SERVICE_BUNDLE.define,
  plugins: [privateInBundle],
  metafile: true,
  logLevel: 'error',
};

const SPAWNED_SCRIPT = /new URL\(\s*(['"])(\.\/[^'"`$]+\.js)\1\s*,\s*import\.meta\.url\s*\)/g;
for (;;) {
  const { metafile } = await build({ ...options, write: false });
  let added = false;
  for (const input of Object.keys(metafile.inputs)) {
    const file = resolve(root, input);
    if (!existsSync(file)) continue;
    for (const match of readFileSync(file, 'utf8').matchAll(SPAWNED_SCRIPT)) {
      const script = resolve(dirname(file), match[2]);
      const name = basename(script, '.js');
      if (entryPoints[name] === script) continue;
      if (entryPoints[name] !== undefined) {
        throw new Error(`two bundle entries named ${name}: ${entryPoints[name]} and ${script}`);
      }
      entryPoints[name] = script;
      added = true;
    }
  }
  if (!added) break;
}

rmSync(outdir, { recursive: true, force: true });
const { metafile } = await build({ ...options, write: true });

// The tarball's dependencies are exactly what the bundle imports: nothing missing (npm would
// install a CLI that cannot start), nothing extra.
const imported = new Set();
for (const output of Object.values(metafile.outputs)) {
  for (const { path, external } of output.imports) {
    if (external && !isBuiltin(path)) imported.add(packageName(path));
  }
}
const declared = new Set(Object.keys(manifest.dependencies ?? {}));
const missing = [...imported].filter((d) => !declared.has(d)).sort();
const unused = [...declared].filter((d) => !imported.has(d)).sort();
if (missing.length > 0 || unused.length > 0) {
  rmSync(outdir, { recursive: true, force: true });
  process.stderr.write(
    `bundle ${manifest.name}: package.json "dependencies" must be what the bundle imports;\n` +
      (missing.length > 0 ? `  missing: ${missing.join(', ')}\n` : '') +
      (unused.length > 0 ? `  not imported: ${unused.join(', ')}\n` : ''),
  );
  process.exit(1);
}
