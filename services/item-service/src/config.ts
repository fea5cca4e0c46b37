import { hostname } from 'node:os';
import { ENGINE_OPTIONS, type IntegerOption } from '@keylane/engine';
import { STRATEGY_NAMES, type StrategyName } from '@keylane/engine/baselines';
import { KeylaneError } from '@keylane/protocol';

/** Log levels pino knows, plus `silent`. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** The service's whole configuration, validated and frozen by {@link loadConfig}. */
export interface ServiceConfig {
  readonly port: number;
  readonly host: string;
  readonly instanceId: string;
  readonly databaseUrl: string;
  /** Streaming replicas of the database that cache misses may read (engine `postgres.replicas`); empty: none. */
  readonly databaseReplicaUrls: readonly string[];
  readonly dbSchema: string;
  /** Create the items table at start if it is missing. */
  readonly dbMigrate: boolean;
  readonly statementTimeoutMs: number;
  readonly redisUrl: string;
  readonly cachePrefix: string;
  readonly lanes: number;
  readonly strategy: StrategyName;
  readonly cacheTtlMs: number;
  readonly leaseTtlMs: number;
  readonly markerTtlMs: number;
  readonly maxQueuePerLane: number;
  readonly maxQueueWaitMs: number;
  /** Group commit of an item's queued writes (the engine's entity option `groupCommit`). */
  readonly groupCommit: boolean;
  readonly doubleDeleteDelayMs: number;
  readonly lockTtlMs: number;
  readonly maxBodyBytes: number;
  /** Bodies being received or worked on at once, in bytes, before new ones are refused `overloaded`. */
  readonly maxBytesInFlight: number;
  /** How much earlier than a caller's `x-keylane-deadline` it counts as passed (clock skew allowance). */
  readonly clockSkewMs: number;
  /** How long a dependency may be unreachable before readiness answers 503 degraded. */
  readonly readyGraceMs: number;
  /** How long readiness answers 503 while the process still serves, after SIGTERM. */
  readonly drainMs: number;
  /** Upper bound for in-flight requests and queued lane jobs once the listener is closed. */
  readonly shutdownGraceMs: number;
  readonly logLevel: LogLevel;
  readonly allowBaselines: boolean;
  readonly allowChaos: boolean;
  readonly chaosFillDelayMs: number;
  readonly chaosWriteDelayMs: number;
}

/**
 * A variable held a value the service cannot run with. The message is the one line the
 * process prints before exiting: variable, value, what is allowed.
 */
export class ConfigError extends KeylaneError {
  declare readonly code: 'invalid_config';
  readonly variable: string;
  readonly value: string;
  readonly allowed: string;

  constructor(variable: string, value: string, allowed: string) {
    super(
      'invalid_config',
      `invalid configuration: ${variable}=${shown(variable, value)} is not allowed; ${allowed}`,
    );
    this.variable = variable;
    this.value = value;
    this.allowed = allowed;
  }
}

/** One accepted environment variable, as documented in README.md. */
export interface ConfigVariable {
  readonly name: string;
  readonly key: keyof ServiceConfig;
  /** The default as text; `(hostname)` stands for `os.hostname()` at start. */
  readonly default: string;
  readonly allowed: string;
  readonly description: string;
}

type Parser<T> = (raw: string, variable: string) => T;

/** How a variable's value is read, and written back (the inverse, for {@link toEnvironment}). */
interface Rule<T> {
  readonly allowed: string;
  readonly parse: Parser<T>;
  readonly format: (value: T) => string;
}

interface Spec<K extends keyof ServiceConfig> extends ConfigVariable {
  readonly key: K;
  readonly parse: Parser<ServiceConfig[K]>;
  readonly format: (value: ServiceConfig[K]) => string;
  /** Computed defaults (the host name) are resolved at load time. */
  readonly resolveDefault?: () => string;
}

function integer(min: number, max: number): Rule<number> {
  const allowed = `expected an integer from ${min} to ${max}`;
  return {
    allowed,
    format: String,
    parse(raw, variable) {
      // Digits only: Number() would take " 12", "1e3", "0x10" and "" without complaint.
      const value = /^[0-9]{1,16}$/.test(raw) ? Number(raw) : Number.NaN;
      if (!Number.isSafeInteger(value) || value < min || value > max) {
        throw new ConfigError(variable, raw, allowed);
      }
      return value;
    },
  };
}

function oneOf<T extends string>(values: readonly T[]): Rule<T> {
  const allowed = `expected one of ${values.join(', ')}`;
  return {
    allowed,
    format: (value) => value,
    parse(raw, variable) {
      const found = values.find((v) => v === raw);
      if (found === undefined) throw new ConfigError(variable, raw, allowed);
      return found;
    },
  };
}

function matching(pattern: RegExp, allowed: string): Rule<string> {
  return {
    allowed,
    format: (value) => value,
    parse(raw, variable) {
      if (!pattern.test(raw)) throw new ConfigError(variable, raw, allowed);
      return raw;
    },
  };
}

function url(protocols: readonly string[]): Rule<string> {
  const allowed = `expected a URL starting with ${protocols.map((p) => `${p}//`).join(' or ')}`;
  return {
    allowed,
    format: (value) => value,
    parse(raw, variable) {
      let parsed: URL;
      try {
        parsed = new URL(raw);
      } catch {
        throw new ConfigError(variable, raw, allowed);
      }
      if (!protocols.includes(parsed.protocol) || parsed.hostname === '') {
        throw new ConfigError(variable, raw, allowed);
      }
      return raw;
    },
  };
}

/** A comma-separated list of URLs, each as `url` checks it; '' for none. */
function urlList(protocols: readonly string[]): Rule<readonly string[]> {
  const one = url(protocols);
  const allowed = `expected nothing, or comma-separated URLs each starting with ${protocols.map((p) => `${p}//`).join(' or ')}`;
  return {
    allowed,
    format: (value) => value.join(','),
    parse(raw, variable) {
      if (raw === '') return Object.freeze([]);
      return Object.freeze(
        raw.split(',').map((part) => {
          try {
            return one.parse(part, variable);
          } catch {
            throw new ConfigError(variable, raw, allowed);
          }
        }),
      );
    },
  };
}

const flag: Rule<boolean> = {
  allowed: 'expected 0 or 1',
  parse(raw, variable) {
    if (raw === '0') return false;
    if (raw === '1') return true;
    throw new ConfigError(variable, raw, 'expected 0 or 1');
  },
  format: (value) => (value ? '1' : '0'),
};

function spec<K extends keyof ServiceConfig>(
  name: string,
  key: K,
  defaultValue: string,
  rule: Rule<ServiceConfig[K]>,
  description: string,
  resolveDefault?: () => string,
): Spec<K> {
  return {
    name,
    key,
    default: defaultValue,
    allowed: rule.allowed,
    parse: rule.parse,
    format: rule.format,
    description,
    ...(resolveDefault ? { resolveDefault } : {}),
  };
}

/**
 * A variable that sets one of the engine's options: its range, and its default unless the
 * service has its own, are the engine's (ENGINE_OPTIONS), written nowhere else.
 */
function engineOption<K extends NumberKey>(
  name: string,
  key: K,
  option: IntegerOption,
  description: string,
  serviceDefault?: number,
): Spec<K> {
  const rule = integer(option.min, option.max) as unknown as Rule<ServiceConfig[K]>;
  return spec(name, key, String(serviceDefault ?? option.default), rule, description);
}

type NumberKey = { [P in keyof ServiceConfig]: ServiceConfig[P] extends number ? P : never }[keyof ServiceConfig];

// Schema names become SQL identifiers and prefixes sit inside a Redis hash tag: the same
// conservative forms the engine accepts, checked here so a typo stops the process at once.
const SPECS = [
  spec(
    'KEYLANE_PORT',
    'port',
    '8080',
    integer(0, 65_535),
    'TCP port to listen on (0: any free port).',
  ),
  spec(
    'KEYLANE_HOST',
    'host',
    '0.0.0.0',
    matching(/^[A-Za-z0-9.:\-[\]%]{1,253}$/, 'expected an IP address or host name'),
    'Address to bind.',
  ),
  spec(
    'KEYLANE_INSTANCE_ID',
    'instanceId',
    '(hostname)',
    matching(/^[A-Za-z0-9._:-]{1,128}$/, 'expected 1-128 characters from [A-Za-z0-9._:-]'),
    'Name of this instance in logs, health answers and metrics.',
    () => hostname(),
  ),
  spec(
    'KEYLANE_DATABASE_URL',
    'databaseUrl',
    'postgres://postgres@127.0.0.1:5432/postgres',
    url(['postgres:', 'postgresql:']),
    'PostgreSQL connection string (the source of truth).',
  ),
  spec(
    'KEYLANE_DATABASE_REPLICA_URLS',
    'databaseReplicaUrls',
    '',
    urlList(['postgres:', 'postgresql:']),
    "Streaming replicas of that database, comma-separated: cache misses read one once it has replayed the key's last commit (engine README, Replica reads); empty: the primary only.",
  ),
  spec(
    'KEYLANE_DB_SCHEMA',
    'dbSchema',
    'keylane',
    matching(
      /^[a-z_][a-z0-9_]{0,62}$/,
      'expected a lowercase SQL identifier matching [a-z_][a-z0-9_]{0,62}',
    ),
    'Schema holding the items table.',
  ),
  spec(
    'KEYLANE_DB_MIGRATE',
    'dbMigrate',
    '1',
    flag,
    'Create the schema and items table at start if missing (under an advisory lock); 0: they must exist (apply `sql/items.sql` of @keylane/engine).',
  ),
  engineOption(
    'KEYLANE_STATEMENT_TIMEOUT_MS',
    'statementTimeoutMs',
    ENGINE_OPTIONS.statementTimeoutMs,
    'statement_timeout of every DB connection (0: none); a statement stuck behind a lock frees its lane after it, one with no answer at all (Postgres unreachable) after twice that.',
  ),
  spec(
    'KEYLANE_REDIS_URL',
    'redisUrl',
    'redis://127.0.0.1:6379',
    url(['redis:', 'rediss:']),
    'Redis (cache and guard keys).',
  ),
  spec(
    'KEYLANE_CACHE_PREFIX',
    'cachePrefix',
    'kl',
    matching(/^[^{}\s]{1,64}$/, 'expected 1-64 characters without braces or whitespace'),
    "Prefix inside every Redis key's hash tag: `{<prefix>:items:<id>}:v`.",
  ),
  engineOption(
    'KEYLANE_LANES',
    'lanes',
    ENGINE_OPTIONS.lanes,
    'Keyed DB connections (lanes), each a serial queue.',
  ),
  spec(
    'KEYLANE_STRATEGY',
    'strategy',
    'serial-guarded',
    oneOf<StrategyName>(STRATEGY_NAMES),
    'Cache strategy. Anything but serial-guarded turns the guard off and needs KEYLANE_ALLOW_BASELINES=1: the baselines exist to be compared against it.',
  ),
  engineOption(
    'KEYLANE_CACHE_TTL_MS',
    'cacheTtlMs',
    ENGINE_OPTIONS.cacheTtlMs,
    'TTL of cached values.',
  ),
  engineOption(
    'KEYLANE_LEASE_TTL_MS',
    'leaseTtlMs',
    ENGINE_OPTIONS.leaseTtlMs,
    'TTL of a fill lease.',
  ),
  engineOption(
    'KEYLANE_MARKER_TTL_MS',
    'markerTtlMs',
    ENGINE_OPTIONS.markerTtlMs,
    'TTL of a write marker; a DB write must commit within it.',
  ),
  engineOption(
    'KEYLANE_MAX_QUEUE_PER_LANE',
    'maxQueuePerLane',
    ENGINE_OPTIONS.maxQueuePerLane,
    'Queued jobs per lane before answering 503 overloaded.',
  ),
  engineOption(
    'KEYLANE_MAX_QUEUE_WAIT_MS',
    'maxQueueWaitMs',
    ENGINE_OPTIONS.maxQueueWaitMs,
    "Longest expected wait in a lane's queue a request is admitted to (0: its deadline only); past it, 503 overloaded at once. Keeps a hot key's admitted requests, and the connections callers hold for them, short.",
    500,
  ),
  spec(
    'KEYLANE_GROUP_COMMIT',
    'groupCommit',
    '1',
    flag,
    "Writes of one item queued behind each other in its lane share one transaction, one marker and one COMMIT, each answered with its own version (engine README, Group commit); 0: one transaction per write.",
  ),
  engineOption(
    'KEYLANE_DOUBLE_DELETE_DELAY_MS',
    'doubleDeleteDelayMs',
    ENGINE_OPTIONS.doubleDeleteDelayMs,
    '`double-delete` only: delay before the second DEL.',
  ),
  engineOption(
    'KEYLANE_LOCK_TTL_MS',
    'lockTtlMs',
    ENGINE_OPTIONS.lockTtlMs,
    '`locked` only: TTL of the per-key lock.',
  ),
  spec(
    'KEYLANE_MAX_BODY_BYTES',
    'maxBodyBytes',
    '1048576',
    integer(64, 64 * 1024 * 1024),
    'Largest request body accepted; larger ones get 413 payload_too_large.',
  ),
  spec(
    'KEYLANE_MAX_BYTES_IN_FLIGHT',
    'maxBytesInFlight',
    '67108864',
    integer(64, 2 ** 40),
    'Request bodies (by Content-Length) in flight at once; past it new ones get 503 overloaded with Retry-After before their body is read. Bounds memory with the lanes.',
  ),
  spec(
    'KEYLANE_CLOCK_SKEW_MS',
    'clockSkewMs',
    '100',
    integer(0, 60_000),
    "How much earlier than a caller's x-keylane-deadline the instance treats it as passed: the caller-vs-instance clock skew it tolerates.",
  ),
  spec(
    'KEYLANE_READY_GRACE_MS',
    'readyGraceMs',
    '3000',
    integer(0, 600_000),
    'How long Postgres or Redis may be unreachable before readiness answers 503 degraded (callers then prefer other instances); a shorter flap never changes readiness.',
  ),
  spec(
    'KEYLANE_DRAIN_MS',
    'drainMs',
    '5000',
    integer(0, 600_000),
    'After SIGTERM: readiness answers 503 this long while requests are still served.',
  ),
  spec(
    'KEYLANE_SHUTDOWN_GRACE_MS',
    'shutdownGraceMs',
    '10000',
    integer(0, 600_000),
    'After the listener closes: upper bound for in-flight requests and queued lane jobs.',
  ),
  spec('KEYLANE_LOG_LEVEL', 'logLevel', 'info', oneOf<LogLevel>(LOG_LEVELS), 'pino log level.'),
  spec(
    'KEYLANE_ALLOW_BASELINES',
    'allowBaselines',
    '0',
    flag,
    'Allows a KEYLANE_STRATEGY other than serial-guarded (demo and benchmarks only).',
  ),
  spec(
    'KEYLANE_ALLOW_CHAOS',
    'allowChaos',
    '0',
    flag,
    'Allows the chaos delays below (tests and demos only).',
  ),
  engineOption(
    'KEYLANE_CHAOS_FILL_DELAY_MS',
    'chaosFillDelayMs',
    ENGINE_OPTIONS.chaosFillDelayMs,
    "Pause between a miss's DB read and its cache fill. Non-zero needs KEYLANE_ALLOW_CHAOS=1.",
  ),
  engineOption(
    'KEYLANE_CHAOS_WRITE_DELAY_MS',
    'chaosWriteDelayMs',
    ENGINE_OPTIONS.chaosWriteDelayMs,
    "Pause between a write's invalidation and its DB write. Non-zero needs KEYLANE_ALLOW_CHAOS=1.",
  ),
] as const;

/** Every accepted variable with its default and allowed values (README.md shows the same table). */
export const CONFIG_VARIABLES: readonly ConfigVariable[] = Object.freeze(
  SPECS.map(({ name, key, default: d, allowed, description }) =>
    Object.freeze({ name, key, default: d, allowed, description }),
  ),
);

export const CONFIG_VARIABLE_NAMES: readonly string[] = Object.freeze(SPECS.map((s) => s.name));

/** What {@link loadConfig} reads: `process.env` or a plain object in tests. */
export type Environment = Readonly<Record<string, string | undefined>>;

/**
 * Validates every variable (unset or empty means the default) and returns a frozen config.
 * Throws {@link ConfigError} at the first bad value.
 */
export function loadConfig(env: Environment = process.env): ServiceConfig {
  const config: Record<string, unknown> = {};
  for (const s of SPECS) {
    const raw = env[s.name];
    const text = raw === undefined || raw === '' ? (s.resolveDefault?.() ?? s.default) : raw;
    config[s.key] = (s.parse as Parser<unknown>)(text, s.name);
  }
  const result = config as unknown as ServiceConfig;
  if (result.strategy !== 'serial-guarded' && !result.allowBaselines) {
    throw new ConfigError(
      'KEYLANE_STRATEGY',
      result.strategy,
      'every strategy but serial-guarded turns the guard off and is refused unless KEYLANE_ALLOW_BASELINES=1 (demo and benchmarks only)',
    );
  }
  if (!result.allowChaos) {
    for (const [key, name] of [
      ['chaosFillDelayMs', 'KEYLANE_CHAOS_FILL_DELAY_MS'],
      ['chaosWriteDelayMs', 'KEYLANE_CHAOS_WRITE_DELAY_MS'],
    ] as const) {
      if (result[key] !== 0) {
        throw new ConfigError(
          name,
          String(result[key]),
          'chaos delays are refused unless KEYLANE_ALLOW_CHAOS=1',
        );
      }
    }
  }
  return Object.freeze(result);
}

/** The variable that gives a setting. */
export function variableOf(key: keyof ServiceConfig): string {
  return SPECS.find((candidate) => candidate.key === key)!.name;
}

/** A setting's default, as an instance started with none of the variables set would have it. */
export function defaultSetting<K extends keyof ServiceConfig>(key: K): ServiceConfig[K] {
  const s = SPECS.find((candidate) => candidate.key === key)!;
  return (s.parse as Parser<ServiceConfig[K]>)(s.resolveDefault?.() ?? s.default, s.name);
}

/**
 * The inverse of {@link loadConfig}: the variables that give these settings, for a launcher
 * (the fleet, the CLI) that starts instances and must not restate names or formats. Settings
 * left out (or undefined) are left out of the result, so the instance takes its defaults there.
 * `loadConfig(toEnvironment(config))` gives `config` back.
 */
export function toEnvironment(config: { readonly [K in keyof ServiceConfig]?: ServiceConfig[K] | undefined }): Record<string, string> {
  const env: Record<string, string> = {};
  for (const s of SPECS) {
    const value = config[s.key];
    if (value !== undefined) env[s.name] = (s.format as (v: unknown) => string)(value);
  }
  return env;
}

/**
 * KEYLANE_* variables the service does not know: most likely typos (KEYLANE_LANE=4) that
 * would otherwise be ignored in silence. Other Keylane tools' variables are listed in `ignore`.
 */
export function unknownVariables(
  env: Environment,
  ignorePrefixes: readonly string[] = ['KEYLANE_TEST_'],
): string[] {
  const known = new Set(CONFIG_VARIABLE_NAMES);
  return Object.keys(env)
    .filter((name) => name.startsWith('KEYLANE_') && !known.has(name))
    .filter((name) => !ignorePrefixes.some((prefix) => name.startsWith(prefix)))
    .sort();
}

// One line whatever the input: quoted, control characters escaped, long values cut, and
// passwords in URLs masked (the line ends up in logs).
function shown(variable: string, value: string): string {
  let text = value;
  if (variable.endsWith('_URL') || variable.endsWith('_URLS')) {
    text = value.split(',').map(masked).join(',');
  }
  const cut = text.length > 200 ? `${text.slice(0, 200)}…` : text;
  return JSON.stringify(cut);
}

function masked(value: string): string {
  try {
    const parsed = new URL(value);
    if (parsed.password === '') return value;
    parsed.password = '***';
    return parsed.toString();
  } catch {
    return value; // Not a URL: shown as given.
  }
}
