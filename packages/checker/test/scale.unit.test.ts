import { describe, expect, test } from '@jest/globals';
import fc from 'fast-check';
import { checkHistory } from '../src/index.js';
import { simulatedArb } from './support/histories.js';

// Beyond a dozen operations the exhaustive search cannot follow, but a real register still
// cannot produce a violation: a false alarm here would be a checker bug.
describe('larger histories', () => {
  test('every simulated register run of up to 400 operations is accepted', () => {
    fc.assert(
      fc.property(simulatedArb({ maxOps: 400, keys: ['a', 'b', 'c'], span: 200 }), (ops) => {
        const result = checkHistory(ops);
        expect(result.violations).toEqual([]);
      }),
      { numRuns: 300 },
    );
  });
});
