import { KeylaneError } from '@keylane/protocol';

/** Where the caller finds the fleet: a fixed list (compose) or a DNS name (a headless Service). */
export type CallerDiscovery =
  | { readonly kind: 'static'; readonly instances: readonly string[] }
  | {
      readonly kind: 'dns';
      readonly name: string;
      readonly port: number;
      readonly refreshMs: number;
    };

/** The caller's whole configuration, validated by {@link loadCallerConfig}. */
export interface CallerConfig {
  readonly discovery: CallerDiscovery;
  /** Keys written and read each round: 1 .. keys. */
  readonly keys: number;
  /** Pause between two rounds. */
  readonly intervalMs: number;
  /** Deadline of one SDK call (the client's `requestTimeoutMs`). */
  readonly requestTimeoutMs: number;
}

/** A variable held a value the caller cannot run with; the message is the one line it prints. */
export class CallerConfigError extends KeylaneError {
  declare readonly code: 'invalid_config';
  readonly variable: string;

  constructor(variable: string, message: string) {
    super('invalid_config', `invalid configuration: ${variable} ${message}`);
    this.variable = variable;
  }
}

/** Every variable the caller reads (deploy-tests check compose against this list). */
export const CALLER_VARIABLE_NAMES = [
  'KEYLANE_INSTANCES',
  'KEYLANE_DNS_NAME',
  'KEYLANE_DNS_PORT',
  'KEYLANE_DNS_REFRESH_MS',
  'KEYLANE_CALLER_KEYS',
  'KEYLANE_CALLER_INTERVAL_MS',
  'KEYLANE_CALLER_REQUEST_TIMEOUT_MS',
] as const;

export const DEFAULT_CALLER_CONFIG = Object.freeze({
  keys: 5,
  intervalMs: 1000,
  requestTimeoutMs: 2000,
  dnsRefreshMs: 5000,
});

export type CallerEnvironment = Readonly<Record<string, string | undefined>>;

/**
 * Reads the environment. Exactly one of KEYLANE_INSTANCES (comma-separated origins) and
 * KEYLANE_DNS_NAME (+ KEYLANE_DNS_PORT) must be set: guessing between two sources would
 * hide a deployment mistake.
 */
export function loadCallerConfig(env: CallerEnvironment = process.env): CallerConfig {
  const list = value(env, 'KEYLANE_INSTANCES');
  const dnsName = value(env, 'KEYLANE_DNS_NAME');
  if (list !== undefined && dnsName !== undefined) {
    throw new CallerConfigError(
      'KEYLANE_INSTANCES',
      'and KEYLANE_DNS_NAME are both set; set exactly one',
    );
  }
  let discovery: CallerDiscovery;
  if (list !== undefined) {
    for (const name of ['KEYLANE_DNS_PORT', 'KEYLANE_DNS_REFRESH_MS'] as const) {
      if (value(env, name) !== undefined) {
        throw new CallerConfigError(
          name,
          'only applies with KEYLANE_DNS_NAME, not with KEYLANE_INSTANCES',
        );
      }
    }
    const instances = list.split(',').map((s) => s.trim());
    for (const origin of instances) {
      if (!isOrigin(origin)) {
        throw new CallerConfigError(
          'KEYLANE_INSTANCES',
          `holds ${JSON.stringify(origin)}; expected comma-separated origins like http://item-1:8080`,
        );
      }
    }
    discovery = Object.freeze({ kind: 'static', instances: Object.freeze(instances) });
  } else if (dnsName !== undefined) {
    if (!/^[A-Za-z0-9]([A-Za-z0-9.-]{0,252})$/.test(dnsName)) {
      throw new CallerConfigError(
        'KEYLANE_DNS_NAME',
        `is ${JSON.stringify(dnsName)}; expected a DNS name`,
      );
    }
    const port = integer(env, 'KEYLANE_DNS_PORT', undefined, 1, 65_535);
    const refreshMs = integer(
      env,
      'KEYLANE_DNS_REFRESH_MS',
      DEFAULT_CALLER_CONFIG.dnsRefreshMs,
      100,
      3_600_000,
    );
    discovery = Object.freeze({ kind: 'dns', name: dnsName, port, refreshMs });
  } else {
    throw new CallerConfigError(
      'KEYLANE_INSTANCES',
      'is not set; set it (http://item-1:8080,http://item-2:8080) or KEYLANE_DNS_NAME and KEYLANE_DNS_PORT',
    );
  }
  return Object.freeze({
    discovery,
    keys: integer(env, 'KEYLANE_CALLER_KEYS', DEFAULT_CALLER_CONFIG.keys, 1, 10_000),
    intervalMs: integer(
      env,
      'KEYLANE_CALLER_INTERVAL_MS',
      DEFAULT_CALLER_CONFIG.intervalMs,
      0,
      3_600_000,
    ),
    requestTimeoutMs: integer(
      env,
      'KEYLANE_CALLER_REQUEST_TIMEOUT_MS',
      DEFAULT_CALLER_CONFIG.requestTimeoutMs,
      1,
      600_000,
    ),
  });
}

function value(env: CallerEnvironment, name: string): string | undefined {
  const raw = env[name];
  return raw === undefined || raw.trim() === '' ? undefined : raw.trim();
}

function integer(
  env: CallerEnvironment,
  name: string,
  fallback: number | undefined,
  min: number,
  max: number,
): number {
  const raw = value(env, name);
  if (raw === undefined) {
    if (fallback === undefined) throw new CallerConfigError(name, 'is not set');
    return fallback;
  }
  const parsed = /^[0-9]{1,10}$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isSafeInteger(parsed) || parsed < min || parsed > max) {
    throw new CallerConfigError(
      name,
      `is ${JSON.stringify(raw)}; expected an integer from ${min} to ${max}`,
    );
  }
  return parsed;
}

function isOrigin(text: string): boolean {
  try {
    const url = new URL(text);
    return (
      (url.protocol === 'http:' || url.protocol === 'https:') &&
      url.origin === text.replace(/\/$/, '')
    );
  } catch {
    return false;
  }
}
