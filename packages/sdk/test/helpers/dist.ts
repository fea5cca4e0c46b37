import { execFileSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const PACKAGE_DIR = fileURLToPath(new URL('../..', import.meta.url));

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs);
  }
  return newest;
}

/**
 * Tests that run the SDK outside jest (a child process, a packed tarball) need dist/.
 * turbo's `test` builds first; a bare `jest` run after an edit rebuilds here instead of
 * testing stale output.
 */
export function ensureBuilt(): void {
  let built = 0;
  try {
    built = statSync(join(PACKAGE_DIR, 'dist/index.js')).mtimeMs;
  } catch {
    built = 0;
  }
  if (built >= newestMtime(join(PACKAGE_DIR, 'src'))) return;
  const tsc = createRequire(join(PACKAGE_DIR, 'package.json')).resolve('typescript/bin/tsc');
  execFileSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: PACKAGE_DIR, stdio: 'inherit' });
}
