import { describe, expect, it } from '@jest/globals';
import { WatermarkState } from '../src/cache/scripts.js';
import { maxLsn } from '../src/db/lsn.js';
import { ReplicaSet } from '../src/db/replicas.js';
import { sleep } from './helpers.js';

/**
 * What a miss needs of a replica, from the key's watermark and the floor, as a rule: no
 * server is involved here (replica-reads.test.ts runs it against a real standby). The primary's
 * LSN samples come from a list, and Redis restarts from a counter, so every case is exact.
 */
function replicaSet(lsns: string[], floorWindowMs = 10_000): { set: ReplicaSet; restart: () => void } {
  let restarts = 0;
  let next = 0;
  const set = new ReplicaSet({
    replicas: [{ connectionString: 'postgres://127.0.0.1:1/never-connected' }],
    lanes: 1,
    engine: 0,
    statementTimeoutMs: 1_000,
    mode: 'watermark',
    floorWindowMs,
    sampleLsn: () => Promise.resolve(lsns[Math.min(next++, lsns.length - 1)]!),
    redisRestarts: () => restarts,
  });
  return { set, restart: () => (restarts += 1) };
}

describe('the replica rule', () => {
  it('orders LSNs as numbers, both halves hex', () => {
    expect(maxLsn('0/9', '0/10')).toBe('0/10');
    expect(maxLsn('1/0', '0/FFFFFFFF')).toBe('1/0');
    expect(maxLsn('', '0/1')).toBe('0/1');
    expect(maxLsn('A/1', '')).toBe('A/1');
  });

  it('needs the watermark raised to the floor; a key in doubt needs the primary', async () => {
    const { set } = replicaSet(['0/100']);
    await set.start();
    try {
      expect(set.need({ lsn: '', state: WatermarkState.None })).toEqual({ lsn: '0/100' });
      expect(set.need({ lsn: '0/50', state: WatermarkState.Clean })).toEqual({ lsn: '0/100' });
      expect(set.need({ lsn: '0/200', state: WatermarkState.Clean })).toEqual({ lsn: '0/200' });
      expect(set.need({ lsn: '0/200', state: WatermarkState.Doubt })).toEqual({ route: 'unsettled' });
      expect(set.need(undefined)).toEqual({ route: 'unsettled' });
    } finally {
      await set.close();
    }
  });

  it('forgets every sample when Redis came back as another server (watermarks may be lost), until a new one', async () => {
    const { set, restart } = replicaSet(['0/100', '0/300'], 80);
    await set.start();
    try {
      expect(set.need({ lsn: '', state: WatermarkState.None })).toEqual({ lsn: '0/100' });
      restart();
      expect(set.need({ lsn: '', state: WatermarkState.None })).toEqual({ route: 'noFloor' });
      // The sampler runs every windowMs / 8 (at least 10 ms): the next sample is a new floor.
      await sleep(250);
      expect(set.need({ lsn: '', state: WatermarkState.None })).toEqual({ lsn: '0/300' });
    } finally {
      await set.close();
    }
  });

  it('lets the floor age: the oldest sample within the window, none once the sampler stops', async () => {
    const { set } = replicaSet(['0/100', '0/200', '0/300'], 80);
    await set.start();
    expect(set.need({ lsn: '', state: WatermarkState.None })).toEqual({ lsn: '0/100' });
    await sleep(150);
    // 0/100 left the window; later samples all read 0/300 (the list's last).
    expect(set.need({ lsn: '', state: WatermarkState.None })).not.toEqual({ lsn: '0/100' });
    await set.close();
    await sleep(150);
    expect(set.need({ lsn: '', state: WatermarkState.None })).toEqual({ route: 'noFloor' });
  });
});
