// The stand-in itself lives in @keylane/harness, where the item service's contract test holds
// it to the real service; these are the SDK tests' conveniences around it.
import { ItemServer } from '@keylane/harness';

export {
  ItemServer,
  sendError as fail,
  sendJson as send,
  type Intercept,
  type ItemServerOptions,
} from '@keylane/harness';

/** Starts `count` servers named item-1..item-N. */
export async function startFleet(count: number): Promise<ItemServer[]> {
  return Promise.all(Array.from({ length: count }, (_, i) => ItemServer.start(`item-${i + 1}`)));
}

export async function stopFleet(servers: readonly ItemServer[]): Promise<void> {
  await Promise.all(servers.map((s) => s.kill()));
}

/** Polls until `check` is true; generous by default because the machine is shared. */
export async function waitFor(
  check: () => boolean,
  timeoutMs = 10_000,
  stepMs = 10,
): Promise<number> {
  const started = performance.now();
  while (!check()) {
    if (performance.now() - started > timeoutMs)
      throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, stepMs));
  }
  return performance.now() - started;
}

/** A deterministic stream of uint64-range signed keys (splitmix64), the same in every process. */
export function* keyStream(seed: bigint, count: number): Generator<bigint> {
  let state = BigInt.asUintN(64, seed);
  for (let i = 0; i < count; i++) {
    state = BigInt.asUintN(64, state + 0x9e3779b97f4a7c15n);
    let z = state;
    z = BigInt.asUintN(64, (z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n);
    z = BigInt.asUintN(64, (z ^ (z >> 27n)) * 0x94d049bb133111ebn);
    z ^= z >> 31n;
    yield BigInt.asIntN(64, z);
  }
}
