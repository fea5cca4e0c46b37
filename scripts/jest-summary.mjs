// Adds up the per-package jest results (written by each package's `test` script) into one
// closing line, so a run across the workspace ends with a single count.
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
let passed = 0;
let failed = 0;
let skipped = 0;
let suites = 0;
const failures = [];
for (const group of ['packages', 'services']) {
  const dir = join(root, group);
  if (!existsSync(dir)) continue;
  for (const name of readdirSync(dir)) {
    const file = join(dir, name, '.jest-results.json');
    if (!existsSync(file)) continue;
    const result = JSON.parse(readFileSync(file, 'utf8'));
    suites += result.numTotalTestSuites;
    passed += result.numPassedTests;
    failed += result.numFailedTests;
    skipped += result.numPendingTests + result.numTodoTests;
    if (!result.success) failures.push(`${group}/${name}`);
  }
}
if (suites === 0) {
  console.error('jest-summary: no jest results found; did the tests run?');
  process.exit(1);
}
if (failures.length > 0) console.log(`failing packages: ${failures.join(', ')}`);
console.log(`jest: ${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(failed > 0 || failures.length > 0 ? 1 : 0);
