import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { resolveInstances, resolveOptions } from '../src/core/resolve-options.js';
import { InstanceSet } from '../src/pool/instance-set.js';
import { startFleet, stopFleet, waitFor, type ItemServer } from './helpers/item-server.js';

// Membership changes at runtime go through setInstances: the door DNS discovery will use.
describe('InstanceSet.setInstances', () => {
  let servers: ItemServer[];
  beforeAll(async () => {
    servers = await startFleet(4);
  });
  afterAll(async () => {
    await stopFleet(servers);
  });

  it('adds, removes and replaces members, and routing follows', async () => {
    const spec = (i: number) => ({ id: servers[i]!.name, url: servers[i]!.url });
    const options = resolveOptions({
      instances: [spec(0), spec(1), spec(2)],
      routing: 'consistent',
      healthCheck: { intervalMs: 50, timeoutMs: 2000 },
    });
    const transitions: string[] = [];
    const set = new InstanceSet(options, {
      transition: (instance, previous) => transitions.push(`${instance.id}: ${previous} -> ${instance.state}`),
    });
    try {
      await set.setInstances(options.instances);
      await waitFor(() => set.healthyIds().length === 3);
      const removed = set.list().find((i) => i.id === 'item-2')!;

      await set.setInstances(resolveInstances([spec(0), spec(2), spec(3)]));
      expect(set.healthyIds()).toEqual(['item-1', 'item-3']); // removed at once, new one not yet probed
      expect(removed.pool.closed).toBe(true);
      await waitFor(() => set.healthyIds().length === 3);
      expect(set.healthyIds()).toEqual(['item-1', 'item-3', 'item-4']);
      expect(set.list().map((i) => i.id)).toEqual(['item-1', 'item-3', 'item-4']);
      // A removal is not a health transition: no event for item-2.
      expect(transitions.filter((t) => t.startsWith('item-2'))).toEqual(['item-2: unknown -> healthy']);

      // Same id, new URL: the member is replaced and must prove itself again.
      const before = set.list().find((i) => i.id === 'item-4')!;
      await set.setInstances(resolveInstances([spec(0), spec(2), { id: 'item-4', url: servers[1]!.url }]));
      const after = set.list().find((i) => i.id === 'item-4')!;
      expect(after).not.toBe(before);
      expect(after.url).toBe(servers[1]!.url);
      await waitFor(() => set.healthyIds().length === 3);
    } finally {
      await set.close();
    }
    expect(set.healthyIds()).toEqual([]);
  });
});
