import { readFileSync } from 'node:fs';

/**
 * This package's version, read from its package.json at run time (from dist/ and from src/
 * alike: both sit one folder below it), so `keylane --version` cannot drift from what was
 * installed.
 */
export const VERSION: string = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    version: string;
  }
).version;
