import { describe, expect, it } from '@jest/globals';
import { strategyOrder } from '../../src/bench/order.js';

describe('strategyOrder', () => {
  const six = ['a', 'b', 'c', 'd', 'e', 'f'];

  it('spreads six strategies over three runs: each starts one third of the way further', () => {
    expect(strategyOrder(six, 1, 3)).toEqual(['a', 'b', 'c', 'd', 'e', 'f']);
    expect(strategyOrder(six, 2, 3)).toEqual(['c', 'd', 'e', 'f', 'a', 'b']);
    expect(strategyOrder(six, 3, 3)).toEqual(['e', 'f', 'a', 'b', 'c', 'd']);
  });

  it('puts every strategy in every position once when there are as many runs as strategies', () => {
    const orders = [1, 2, 3].map((run) => strategyOrder(['x', 'y', 'z'], run, 3));
    for (let position = 0; position < 3; position++) {
      expect(new Set(orders.map((order) => order[position])).size).toBe(3);
    }
  });

  it('keeps a single run, a single strategy and an empty list as they are', () => {
    expect(strategyOrder(six, 1, 1)).toEqual(six);
    expect(strategyOrder(['only'], 3, 3)).toEqual(['only']);
    expect(strategyOrder([], 2, 3)).toEqual([]);
  });
});
