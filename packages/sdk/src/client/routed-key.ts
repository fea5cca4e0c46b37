import { longIdText, routingKey, type LongIdInput } from '@keylane/protocol';

/**
 * A request's key as routing needs it: its wire text, and its routing key, made only when
 * asked. A safe-integer long id (what most JS callers pass) routes through the router's
 * integer path and never becomes a BigInt; the others, and every reroute after a failure,
 * use the routing key. Both paths pick the same owner (the router's tests hold them equal).
 */
export interface RoutedKey {
  readonly text: string;
  readonly safeInteger: number | undefined;
  routing(): bigint;
}

/** A long id, checked now (InvalidKeyError before anything else happens). */
export function longKey(id: LongIdInput): RoutedKey {
  const text = longIdText(id);
  let routing: bigint | undefined;
  return {
    text,
    safeInteger: typeof id === 'number' ? id : undefined,
    routing: () => (routing ??= routingKey(BigInt(text))),
  };
}

/** A string key of an entity with string keys: routed by `routingKey` (a canonical decimal string as the long it spells). */
export function stringKey(id: string): RoutedKey {
  const routing = routingKey(id); // InvalidKeyError now, not after a timer exists
  return { text: id, safeInteger: undefined, routing: () => routing };
}
