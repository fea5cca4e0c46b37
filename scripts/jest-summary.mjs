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
const failedTests = [];
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
    // Name each failed test (and each suite that failed to run), so a CI log that only keeps
    // its tail still says what failed.
    for (const suite of result.testResults ?? []) {
      const file = suite.name.slice(root.length);
      if (suite.status === 'failed' && (suite.assertionResults ?? []).every((a) => a.status !== 'failed')) {
        failedTests.push(`${file}: ${(suite.message ?? '').split('\n').find((l) => l.trim() !== '')?.trim() ?? 'suite failed'}`);
      }
      for (const a of suite.assertionResults ?? []) {
        if (a.status === 'failed') failedTests.push(`${file}: ${a.fullName}`);
      }
    }
  }
}
if (suites === 0) {
  console.error('jest-summary: no jest results found; did the tests run?');
  process.exit(1);
}
for (const t of failedTests) console.log(`failed: ${t}`);
if (failures.length > 0) console.log(`failing packages: ${failures.join(', ')}`);
console.log(`jest: ${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(failed > 0 || failures.length > 0 ? 1 : 0);
