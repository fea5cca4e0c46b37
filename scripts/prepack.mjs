// `prepack` of every published package: `pnpm pack`, `pnpm publish` and `npm pack` run it in
// the package's folder before they collect its files. It builds the workspace packages this
// one depends on (through turbo, so usually from its cache), then this package from an empty
// `dist`: the tarball holds exactly what the sources compile to now, never a stale file of a
// deleted source, and never nothing because nobody ran the build first.
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const pkgDir = process.cwd();
const manifest = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8'));
const { name } = manifest;
const binDir = join(root, 'node_modules', '.bin');
const bin = (tool) => join(binDir, tool);
// turbo spawns pnpm, which `npm pack` (unlike `pnpm pack`) does not put on PATH.
const env = { ...process.env, PATH: `${binDir}${delimiter}${process.env.PATH ?? ''}` };

/**
 * Runs a build step; its output goes to stderr (stdout belongs to the packer: `npm pack
 * --json`, the tarball's name), and only when it fails: turbo's banner is noise otherwise.
 */
function run(command, args, cwd) {
  const result = spawnSync(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  if (result.error) throw result.error;
  if (result.status !== 0) {
    process.stderr.write(result.stdout);
    process.stderr.write(result.stderr);
    process.stderr.write(`prepack ${name}: ${command} ${args.join(' ')} exited ${result.status}\n`);
    process.exit(result.status ?? 1);
  }
}

// Only what the build needs: the workspace packages among its runtime dependencies, and
// theirs (`<dep>...`). Dev dependencies (test helpers) play no part in the tarball.
const workspaceDeps = Object.entries(manifest.dependencies ?? {})
  .filter(([, range]) => range.startsWith('workspace:'))
  .map(([dep]) => `--filter=${dep}...`);
if (workspaceDeps.length > 0) {
  run(bin('turbo'), ['run', 'build', ...workspaceDeps, '--output-logs=errors-only'], root);
}
rmSync(join(pkgDir, 'dist'), { recursive: true, force: true });
run(bin('tsc'), ['-p', 'tsconfig.build.json'], pkgDir);
