import { DiscoveryError } from '../core/errors.js';
import type { DnsFamily, ResolvedDnsDiscovery, ResolvedInstance } from '../core/options.js';
import { createAddressSource, type AddressSource } from './resolve-addresses.js';

export interface DiscoveryListener {
  /** Every good answer, sorted by id (also when it did not change). Must not throw. */
  resolved(instances: readonly ResolvedInstance[]): void;
  /** Every failed resolution; the last good answer stands. Must not throw. */
  failed(error: DiscoveryError): void;
}

export interface DiscoveryStats {
  dns: string;
  port: number;
  family: DnsFamily;
  /** `null`: the system's resolution (`dns.lookup`). */
  servers: string[] | null;
  refreshMs: number;
  resolutions: { ok: number; failed: number };
  /** Failed resolutions since the last good one. */
  consecutiveFailures: number;
  /** `Date.now()` of the last good answer; `null` before the first. */
  lastResolvedAt: number | null;
  /** The message of the last failed resolution, if any failed. */
  lastError: string | null;
  /** The instance ids of the last good answer, sorted. */
  instances: string[];
}

/**
 * Re-resolves one DNS name every `refreshMs` (measured start to start, the first at once) and
 * reports each answer. A resolution has `refreshMs` to answer, so rounds never overlap.
 */
export class DnsDiscovery {
  readonly #options: ResolvedDnsDiscovery;
  readonly #source: AddressSource;
  readonly #listener: DiscoveryListener;
  #timer: NodeJS.Timeout | undefined;
  #inFlight: Promise<void> | undefined;
  #abort: AbortController | undefined;
  #stopped = false;
  #ok = 0;
  #failed = 0;
  #consecutiveFailures = 0;
  #lastResolvedAt: number | null = null;
  #lastError: DiscoveryError | null = null;
  #instances: readonly ResolvedInstance[] = [];

  constructor(options: ResolvedDnsDiscovery, listener: DiscoveryListener) {
    this.#options = options;
    this.#source = createAddressSource(options);
    this.#listener = listener;
  }

  get host(): string {
    return this.#options.dns;
  }

  /** True once some resolution has answered. */
  get resolved(): boolean {
    return this.#lastResolvedAt !== null;
  }

  /** The last failure, while no resolution has ever succeeded; `null` otherwise. */
  get initialError(): DiscoveryError | null {
    return this.resolved ? null : this.#lastError;
  }

  start(): void {
    this.#schedule(0);
  }

  /** Stops the refresh timer and abandons a resolution in flight. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#abort?.abort(new DiscoveryError(this.#options.dns, 'the client is closed'));
    await this.#inFlight;
  }

  stats(): DiscoveryStats {
    const { dns, port, family, servers, refreshMs } = this.#options;
    return {
      dns,
      port,
      family,
      servers: servers === null ? null : [...servers],
      refreshMs,
      resolutions: { ok: this.#ok, failed: this.#failed },
      consecutiveFailures: this.#consecutiveFailures,
      lastResolvedAt: this.#lastResolvedAt,
      lastError: this.#lastError?.message ?? null,
      instances: this.#instances.map((i) => i.id),
    };
  }

  #schedule(delayMs: number): void {
    this.#timer = setTimeout(() => {
      this.#inFlight = this.#round();
    }, delayMs);
    // Like the health checker: a client someone forgot to close must not keep the process alive.
    this.#timer.unref();
  }

  async #round(): Promise<void> {
    const started = performance.now();
    const { dns, refreshMs } = this.#options;
    const abort = new AbortController();
    this.#abort = abort;
    const deadline = setTimeout(
      () => abort.abort(new DiscoveryError(dns, `no answer within ${refreshMs} ms`)),
      refreshMs,
    );
    deadline.unref();
    let outcome: { instances: readonly ResolvedInstance[] } | { error: DiscoveryError };
    try {
      outcome = { instances: await this.#source.resolve(abort.signal) };
    } catch (err) {
      outcome = {
        error:
          err instanceof DiscoveryError
            ? err
            : new DiscoveryError(dns, String(err), { cause: err }),
      };
    } finally {
      clearTimeout(deadline);
      this.#abort = undefined;
    }
    if (this.#stopped) return;
    if ('instances' in outcome) {
      this.#ok++;
      this.#consecutiveFailures = 0;
      this.#lastResolvedAt = Date.now();
      this.#instances = outcome.instances;
      this.#listener.resolved(outcome.instances);
    } else {
      this.#failed++;
      this.#consecutiveFailures++;
      this.#lastError = outcome.error;
      this.#listener.failed(outcome.error);
    }
    if (!this.#stopped) this.#schedule(Math.max(0, refreshMs - (performance.now() - started)));
  }
}
