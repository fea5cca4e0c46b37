import { Resolver, lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { describeError } from '../core/describe-error.js';
import { DiscoveryError } from '../core/errors.js';
import type { ResolvedDnsDiscovery, ResolvedInstance } from '../core/options.js';

/** Resolver answers meaning "the name has no such records", as opposed to "the lookup failed". */
const NO_RECORDS = new Set(['ENODATA', 'ENOTFOUND']);

/** Turns the DNS name into the instances behind it, one resolution per call. */
export interface AddressSource {
  /** The instances of one answer, sorted by id; rejects with {@link DiscoveryError}. */
  resolve(signal: AbortSignal): Promise<ResolvedInstance[]>;
}

export function createAddressSource(options: ResolvedDnsDiscovery): AddressSource {
  return options.servers === null
    ? new SystemLookup(options)
    : new DirectResolver(options, options.servers);
}

/** `dns.lookup` (getaddrinfo): `/etc/hosts`, nsswitch and resolv.conf search domains apply. */
class SystemLookup implements AddressSource {
  readonly #options: ResolvedDnsDiscovery;
  /** A getaddrinfo call still running, possibly from a round that gave up on it. */
  #pending: Promise<{ address: string }[]> | null = null;

  constructor(options: ResolvedDnsDiscovery) {
    this.#options = options;
  }

  async resolve(signal: AbortSignal): Promise<ResolvedInstance[]> {
    const { dns, family } = this.#options;
    let answer: { address: string }[];
    try {
      // getaddrinfo cannot be cancelled. A round that times out leaves it running, and the
      // next round waits for that same call rather than start another: against a black-holed
      // DNS server, new calls would pile up in libuv's small thread pool (shared with fs and
      // crypto) every refreshMs.
      this.#pending ??= lookup(dns, { all: true, family }).finally(() => {
        this.#pending = null;
      });
      answer = await untilAborted(this.#pending, signal);
    } catch (err) {
      throw asDiscoveryError(dns, err);
    }
    return instancesOf(
      this.#options,
      answer.map((a) => a.address),
    );
  }
}

/** A `node:dns` Resolver asking the given servers directly (resolve4 / resolve6). */
class DirectResolver implements AddressSource {
  readonly #options: ResolvedDnsDiscovery;
  readonly #resolver: Resolver;

  constructor(options: ResolvedDnsDiscovery, servers: readonly string[]) {
    this.#options = options;
    // c-ares doubles the timeout on the retry: a third of the deadline, twice, fits in it.
    this.#resolver = new Resolver({
      timeout: Math.max(50, Math.floor(options.refreshMs / 3)),
      tries: 2,
    });
    this.#resolver.setServers(servers);
  }

  async resolve(signal: AbortSignal): Promise<ResolvedInstance[]> {
    const { dns, family } = this.#options;
    const onAbort = () => this.#resolver.cancel();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      const queries: Promise<string[]>[] = [];
      if (family !== 6) queries.push(this.#resolver.resolve4(dns));
      if (family !== 4) queries.push(this.#resolver.resolve6(dns));
      const answers = await untilAborted(Promise.allSettled(queries), signal);
      const addresses: string[] = [];
      let noRecords: unknown;
      for (const answer of answers) {
        if (answer.status === 'fulfilled') {
          addresses.push(...answer.value);
        } else if (NO_RECORDS.has(errorCode(answer.reason))) {
          noRecords ??= answer.reason;
        } else {
          // One family failing is a failed lookup: half an answer would drop half the fleet.
          throw asDiscoveryError(dns, answer.reason);
        }
      }
      if (addresses.length === 0) {
        const kind = family === 4 ? 'A' : family === 6 ? 'AAAA' : 'A or AAAA';
        throw new DiscoveryError(dns, `no ${kind} records: ${describeError(noRecords)}`, {
          cause: noRecords,
        });
      }
      return instancesOf(this.#options, addresses);
    } catch (err) {
      throw asDiscoveryError(dns, err);
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }
}

/**
 * One instance per distinct address, sorted by id. The id is `address:port` with the
 * address as the WHATWG URL parser writes it (IPv6 compressed, lower case, in brackets), so
 * every caller names an instance identically whatever its resolver's spelling.
 */
export function instancesOf(
  options: ResolvedDnsDiscovery,
  addresses: readonly string[],
): ResolvedInstance[] {
  const byId = new Map<string, ResolvedInstance>();
  for (const address of addresses) {
    let url: URL;
    try {
      url = new URL(`http://${isIP(address) === 6 ? `[${address}]` : address}:${options.port}`);
    } catch {
      // A scoped link-local address (fe80::1%eth0) has no URL form; nothing could dial it by URL.
      continue;
    }
    const id = `${url.hostname}:${options.port}`;
    byId.set(id, Object.freeze({ id, url: url.origin }));
  }
  if (byId.size === 0) {
    throw new DiscoveryError(
      options.dns,
      `the answer has no usable address (got ${JSON.stringify(addresses)})`,
    );
  }
  return [...byId.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

function asDiscoveryError(host: string, err: unknown): DiscoveryError {
  if (err instanceof DiscoveryError) return err;
  return new DiscoveryError(host, describeError(err), { cause: err });
}

function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    void promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

function errorCode(err: unknown): string {
  const code =
    typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;
  return typeof code === 'string' ? code : '';
}
