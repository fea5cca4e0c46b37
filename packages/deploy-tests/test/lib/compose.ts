import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse } from 'yaml';
import { checkCallerEnv, checkItemServiceEnv } from './service-env.js';
import { DOCKER_DIR } from './repo.js';

export const ITEM_SERVICE_DOCKERFILE = 'docker/item-service.Dockerfile';
export const CALLER_DOCKERFILE = 'docker/example-caller.Dockerfile';
/** The cart service takes the item service's config (its loadConfig), so its entries are checked the same way. */
export const CART_SERVICE_DOCKERFILE = 'docker/cart-service.Dockerfile';

export interface ComposeService {
  image?: string;
  build?: string | { context?: string; dockerfile?: string };
  environment?: Record<string, string | number | boolean | null> | string[];
  ports?: Array<string | number | { target: number; published?: string | number }>;
  depends_on?: string[] | Record<string, { condition?: string }>;
  healthcheck?: { test?: unknown; disable?: boolean };
  command?: unknown;
  [key: string]: unknown;
}

export interface ComposeFile {
  name?: string;
  services: Record<string, ComposeService>;
  [key: string]: unknown;
}

/** Parses compose YAML the way Compose does: anchors, aliases and `<<` merge keys resolved. */
export function parseCompose(text: string): ComposeFile {
  const doc = parse(text, { merge: true }) as unknown;
  if (
    typeof doc !== 'object' ||
    doc === null ||
    typeof (doc as ComposeFile).services !== 'object'
  ) {
    throw new Error('compose file has no services');
  }
  return doc as ComposeFile;
}

/** A service's environment as strings. `null` (take it from the shell) stays visible as a problem. */
export function environmentOf(service: ComposeService): {
  env: Record<string, string>;
  fromShell: string[];
} {
  const env: Record<string, string> = {};
  const fromShell: string[] = [];
  const raw = service.environment ?? {};
  if (Array.isArray(raw)) {
    for (const entry of raw) {
      const at = entry.indexOf('=');
      if (at < 0) fromShell.push(entry);
      else env[entry.slice(0, at)] = entry.slice(at + 1);
    }
  } else {
    for (const [name, value] of Object.entries(raw)) {
      if (value === null) fromShell.push(name);
      else env[name] = String(value);
    }
  }
  return { env, fromShell };
}

export function dockerfileOf(service: ComposeService): string | undefined {
  if (typeof service.build !== 'object') return undefined;
  const context = resolve(DOCKER_DIR, service.build.context ?? '.');
  const file = resolve(context, service.build.dockerfile ?? 'Dockerfile');
  return file;
}

/** The services built from the item-service Dockerfile, by name. */
export function itemServiceEntries(doc: ComposeFile): Array<[string, ComposeService]> {
  return Object.entries(doc.services).filter(
    ([, s]) => dockerfileOf(s) === resolve(DOCKER_DIR, '..', ITEM_SERVICE_DOCKERFILE),
  );
}

/** The services built from the cart-service Dockerfile, by name. */
export function cartServiceEntries(doc: ComposeFile): Array<[string, ComposeService]> {
  return Object.entries(doc.services).filter(
    ([, s]) => dockerfileOf(s) === resolve(DOCKER_DIR, '..', CART_SERVICE_DOCKERFILE),
  );
}

export function callerEntries(doc: ComposeFile): Array<[string, ComposeService]> {
  return Object.entries(doc.services).filter(
    ([, s]) => dockerfileOf(s) === resolve(DOCKER_DIR, '..', CALLER_DOCKERFILE),
  );
}

/** Container ports a service publishes (`"7001:8080"`, `"127.0.0.1:7001:8080/tcp"`, long syntax). */
export function containerPorts(service: ComposeService): number[] {
  return (service.ports ?? []).map((p) => {
    if (typeof p === 'object') return Number(p.target);
    const text = String(p).replace(/\/(tcp|udp)$/, '');
    return Number(text.split(':').at(-1));
  });
}

function dependsOnHealthy(service: ComposeService): string[] {
  const deps = service.depends_on;
  if (deps === undefined || Array.isArray(deps)) return [];
  return Object.entries(deps)
    .filter(([, d]) => d.condition === 'service_healthy')
    .map(([name]) => name);
}

export interface ComposeCheckOptions {
  /** Whether the image built from a Dockerfile has a HEALTHCHECK (compose services may lack one). */
  imageHasHealthcheck(dockerfile: string): boolean;
}

/**
 * Everything about the compose file that can be known without running it: item-service
 * environments against the service's config schema, distinct instance ids, URLs that name
 * services of this file, ports, health-gated dependencies, and the caller's instance list.
 */
export function checkCompose(doc: ComposeFile, options: ComposeCheckOptions): string[] {
  const problems: string[] = [];
  const items = itemServiceEntries(doc);
  if (items.length === 0) problems.push(`no service is built from ${ITEM_SERVICE_DOCKERFILE}`);

  const ids = new Map<string, string[]>();
  // Instances the example caller must list: the item fleet's (the carts are another service).
  const origins: string[] = [];
  const itemNames = new Set(items.map(([name]) => name));
  for (const [name, service] of [...items, ...cartServiceEntries(doc)]) {
    const where = `compose service ${name}`;
    const { env, fromShell } = environmentOf(service);
    for (const variable of fromShell)
      problems.push(`${where}: takes ${variable} from the shell running compose`);
    const { problems: envProblems, config } = checkItemServiceEnv(env, where);
    problems.push(...envProblems);
    if (!config) continue;
    if (env['KEYLANE_INSTANCE_ID'] !== undefined) {
      ids.set(config.instanceId, [...(ids.get(config.instanceId) ?? []), name]);
    }
    if (itemNames.has(name)) origins.push(`http://${name}:${config.port}`);

    const published = containerPorts(service);
    if (published.length > 0 && !published.includes(config.port)) {
      problems.push(
        `${where}: publishes container port ${published.join(', ')} but listens on KEYLANE_PORT=${config.port}`,
      );
    }
    const stopGrace = durationSeconds(service['stop_grace_period'] ?? '10s');
    const shutdown = (config.drainMs + config.shutdownGraceMs) / 1000;
    if (stopGrace === undefined || stopGrace <= shutdown) {
      problems.push(
        `${where}: stop_grace_period ${JSON.stringify(service['stop_grace_period'] ?? '10s (the default)')} is not above ` +
          `KEYLANE_DRAIN_MS + KEYLANE_SHUTDOWN_GRACE_MS = ${shutdown} s: compose would SIGKILL a draining instance`,
      );
    }
    for (const [variable, url] of [
      ['KEYLANE_DATABASE_URL', config.databaseUrl],
      ['KEYLANE_REDIS_URL', config.redisUrl],
    ] as const) {
      const host = new URL(url).hostname;
      if (!Object.hasOwn(doc.services, host)) {
        problems.push(
          `${where}: ${variable} names host "${host}", which is no service of this file`,
        );
      } else if (!dependsOnHealthy(service).includes(host)) {
        problems.push(
          `${where}: ${variable} names "${host}" but does not wait for it (depends_on condition service_healthy)`,
        );
      }
    }
  }
  for (const [id, names] of ids) {
    if (names.length > 1)
      problems.push(`compose services ${names.join(', ')} share KEYLANE_INSTANCE_ID=${id}`);
  }

  for (const [name, service] of callerEntries(doc)) {
    const where = `compose service ${name}`;
    const { env } = environmentOf(service);
    problems.push(...checkCallerEnv(env, where));
    const listed = (env['KEYLANE_INSTANCES'] ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '');
    const missing = origins.filter((o) => !listed.includes(o));
    const extra = listed.filter((o) => !origins.includes(o));
    if (missing.length > 0)
      problems.push(`${where}: KEYLANE_INSTANCES lacks ${missing.join(', ')}`);
    if (extra.length > 0)
      problems.push(
        `${where}: KEYLANE_INSTANCES lists ${extra.join(', ')}, which no item-service entry serves`,
      );
  }

  for (const [name, service] of Object.entries(doc.services)) {
    const dockerfile = dockerfileOf(service);
    if (dockerfile !== undefined && !existsSync(dockerfile)) {
      problems.push(`compose service ${name}: builds from ${dockerfile}, which does not exist`);
    }
    for (const dep of dependsOnHealthy(service)) {
      const target = doc.services[dep];
      if (!target) {
        problems.push(
          `compose service ${name}: depends on "${dep}", which is no service of this file`,
        );
        continue;
      }
      const targetFile = dockerfileOf(target);
      const hasCheck =
        (target.healthcheck !== undefined && target.healthcheck.disable !== true) ||
        (targetFile !== undefined &&
          existsSync(targetFile) &&
          options.imageHasHealthcheck(targetFile));
      if (!hasCheck) {
        problems.push(
          `compose service ${name}: waits for "${dep}" to be healthy, but "${dep}" has no healthcheck`,
        );
      }
    }
  }
  return problems;
}

/** Compose durations: `30s`, `1m30s`, `1500ms`, `2h`. */
export function durationSeconds(value: unknown): number | undefined {
  if (typeof value !== 'string') return undefined;
  const units: Record<string, number> = { h: 3600, m: 60, s: 1, ms: 0.001, us: 0.000001 };
  let total = 0;
  let rest = value;
  while (rest !== '') {
    const part = /^(\d+(?:\.\d+)?)(ms|us|h|m|s)/.exec(rest);
    if (!part) return undefined;
    total += Number(part[1]) * units[part[2]!]!;
    rest = rest.slice(part[0].length);
  }
  return total;
}

export interface LocalMapping {
  databaseUrl: string;
  redisUrl: string;
  schema: string;
  prefix: string;
  /** The local port for this process's KEYLANE_PORT. */
  port?: number;
  /** Local origins of other compose services, by service name (the item instances). */
  origins?: ReadonlyMap<string, string>;
}

/**
 * A compose environment made runnable on this machine: URLs naming the compose Postgres or
 * Redis become the test's, URLs naming other compose services become their local origins,
 * the schema and key prefix become the test's own (isolation from other suites), and
 * KEYLANE_PORT a free port. Everything else is passed verbatim. Returns the names it changed.
 */
export function mapToLocal(
  doc: ComposeFile,
  env: Readonly<Record<string, string>>,
  mapping: LocalMapping,
): { env: Record<string, string>; changed: string[] } {
  const out: Record<string, string> = {};
  const changed: string[] = [];
  const mapUrl = (text: string): string => {
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      return text;
    }
    const target = doc.services[url.hostname];
    if (!target) return text;
    const image = target.image ?? '';
    if (image.startsWith('postgres')) return mapping.databaseUrl;
    if (image.startsWith('redis')) return mapping.redisUrl;
    const origin = mapping.origins?.get(url.hostname);
    if (origin === undefined)
      throw new Error(`no local address for compose service ${url.hostname}`);
    return origin;
  };
  for (const [name, value] of Object.entries(env)) {
    let local = value;
    if (name === 'KEYLANE_PORT' && mapping.port !== undefined) local = String(mapping.port);
    else if (name === 'KEYLANE_DB_SCHEMA') local = mapping.schema;
    else if (name === 'KEYLANE_CACHE_PREFIX') local = mapping.prefix;
    else {
      // KEYLANE_INSTANCES is a comma-separated list of URLs; a single URL is a list of one.
      const parts = value.split(',').map((part) => part.trim());
      const mapped = parts.map(mapUrl);
      if (mapped.some((m, i) => m !== parts[i])) local = mapped.join(',');
    }
    out[name] = local;
    if (local !== value) changed.push(name);
  }
  return { env: out, changed: changed.sort() };
}
