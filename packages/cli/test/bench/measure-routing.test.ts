import { describe, expect, it } from '@jest/globals';
import { InvalidOptionsError } from '@keylane/sdk';
import { measureRouting } from '../../src/bench/measure-routing.js';

describe('measureRouting (the routing benchmark loop)', () => {
  it('times every size, strategy and key type it is asked for', async () => {
    const timings = await measureRouting({
      sizes: [3, 16],
      strategies: ['modulo', 'consistent'],
      keyTypes: ['bigint', 'number'],
      calls: 2_000,
      samples: 3,
    });
    expect(timings.map((t) => `${t.instances}/${t.strategy}/${t.keyType}`)).toEqual([
      '3/modulo/bigint',
      '3/modulo/number',
      '3/consistent/bigint',
      '3/consistent/number',
      '16/modulo/bigint',
      '16/modulo/number',
      '16/consistent/bigint',
      '16/consistent/number',
    ]);
    for (const t of timings) {
      expect(t.wallNs).toBeGreaterThan(0);
      expect(t.cpuNs).toBeGreaterThanOrEqual(0);
    }
  });

  it('refuses a budget it cannot run, naming the option', async () => {
    await expect(measureRouting({ calls: 0 })).rejects.toThrow(InvalidOptionsError);
    await expect(measureRouting({ samples: 1.5 })).rejects.toMatchObject({ option: 'samples' });
    await expect(measureRouting({ sizes: [0] })).rejects.toMatchObject({ option: 'sizes' });
  });
});
