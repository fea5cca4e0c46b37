import { Client } from 'undici';
import { describeError } from '../core/describe-error.js';
import type { HealthCheckOptions } from '../core/options.js';

/**
 * A probe's verdict. `degraded`: the instance answered 503 saying a dependency has been away
 * for a while but it still serves what it can (readiness body `degraded: true`).
 */
export type ProbeResult =
  | { readonly ok: true }
  | { readonly ok: false; readonly reason: string; readonly degraded?: boolean };

const MAX_REASON_BODY = 200;

function isDegraded(body: string): boolean {
  try {
    return (JSON.parse(body) as { degraded?: unknown }).degraded === true;
  } catch {
    return false;
  }
}

/**
 * Probes one instance every `intervalMs`. Probes use their own single connection so a pool
 * saturated by real traffic cannot make a healthy instance look dead (or a dead one alive).
 */
export class HealthChecker {
  readonly #client: Client;
  readonly #options: Readonly<Required<HealthCheckOptions>>;
  readonly #onResult: (result: ProbeResult) => void;
  #timer: NodeJS.Timeout | undefined;
  #inFlight: Promise<void> | undefined;
  #abort: AbortController | undefined;
  #stopped = false;

  constructor(url: string, options: Readonly<Required<HealthCheckOptions>>, onResult: (result: ProbeResult) => void) {
    this.#client = new Client(url, { pipelining: 1, connect: { timeout: options.timeoutMs } });
    this.#options = options;
    this.#onResult = onResult;
  }

  start(): void {
    this.#schedule(0);
  }

  /** Stops probing, aborts a probe in flight, and closes the probe connection. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#abort?.abort();
    await this.#inFlight;
    await this.#client.destroy();
  }

  #schedule(delayMs: number): void {
    this.#timer = setTimeout(() => {
      this.#inFlight = this.#round();
    }, delayMs);
    // A client someone forgot to close must not keep the process alive by probing.
    this.#timer.unref();
  }

  async #round(): Promise<void> {
    const started = performance.now();
    const result = await this.#probe();
    if (this.#stopped) return;
    this.#onResult(result);
    if (!this.#stopped) this.#schedule(Math.max(0, this.#options.intervalMs - (performance.now() - started)));
  }

  async #probe(): Promise<ProbeResult> {
    const abort = new AbortController();
    this.#abort = abort;
    const { timeoutMs, path } = this.#options;
    const timer = setTimeout(() => abort.abort(), timeoutMs);
    try {
      const response = await this.#client.request({ method: 'GET', path, signal: abort.signal });
      const body = await response.body.text();
      if (response.statusCode === 200) return { ok: true };
      const reason = `probe ${path} answered ${response.statusCode}: ${body.slice(0, MAX_REASON_BODY)}`;
      return isDegraded(body) ? { ok: false, reason, degraded: true } : { ok: false, reason };
    } catch (err) {
      if (abort.signal.aborted) return { ok: false, reason: `probe ${path} timed out after ${timeoutMs} ms` };
      return { ok: false, reason: `probe ${path} failed: ${describeError(err)}` };
    } finally {
      clearTimeout(timer);
      this.#abort = undefined;
    }
  }
}
