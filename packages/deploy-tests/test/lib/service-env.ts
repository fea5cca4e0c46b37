import {
  CALLER_VARIABLE_NAMES,
  CallerConfigError,
  loadCallerConfig,
} from '@keylane/example-caller';
import {
  ConfigError,
  loadConfig,
  unknownVariables,
  type ServiceConfig,
} from '@keylane/item-service';

/**
 * Variables a deployment must set although the service has defaults for them: the defaults
 * suit a developer's machine, not a container (loopback addresses, the container's random
 * host name as the instance id).
 */
export const REQUIRED_IN_DEPLOYMENT: Readonly<Record<string, string>> = Object.freeze({
  KEYLANE_INSTANCE_ID: 'the default is the host name, which changes with every container',
  KEYLANE_DATABASE_URL: 'the default is 127.0.0.1, which is the container itself',
  KEYLANE_REDIS_URL: 'the default is 127.0.0.1, which is the container itself',
});

export interface EnvCheck {
  problems: string[];
  /** The loaded config when every value passed `loadConfig`. */
  config: ServiceConfig | undefined;
}

/**
 * Checks one item-service environment against the service's own schema: no variable it does
 * not accept, none missing that a deployment needs, every value accepted by `loadConfig`.
 * `where` prefixes each problem (e.g. `compose service item-2`).
 */
export function checkItemServiceEnv(
  env: Readonly<Record<string, string>>,
  where: string,
): EnvCheck {
  const problems: string[] = [];
  // No ignored prefixes: a deployment has no business setting test-only variables either.
  for (const name of unknownVariables(env, [])) {
    problems.push(`${where}: sets ${name}, which the item service does not accept`);
  }
  for (const [name, why] of Object.entries(REQUIRED_IN_DEPLOYMENT)) {
    if (env[name] === undefined || env[name] === '') {
      problems.push(`${where}: omits ${name}, which a deployment needs (${why})`);
    }
  }
  let config: ServiceConfig | undefined;
  try {
    config = loadConfig(env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    problems.push(`${where}: ${err.message}`);
  }
  return { problems, config };
}

/** The same for the example caller: only its variables, and values its loader accepts. */
export function checkCallerEnv(env: Readonly<Record<string, string>>, where: string): string[] {
  const problems: string[] = [];
  const known = new Set<string>(CALLER_VARIABLE_NAMES);
  for (const name of Object.keys(env).sort()) {
    if (name.startsWith('KEYLANE_') && !known.has(name)) {
      problems.push(`${where}: sets ${name}, which the example caller does not accept`);
    }
  }
  try {
    loadCallerConfig(env);
  } catch (err) {
    if (!(err instanceof CallerConfigError)) throw err;
    problems.push(`${where}: ${err.message}`);
  }
  return problems;
}
