import { InvalidArgumentError, Option, type Command } from 'commander';
import type { IntegerOption } from '@keylane/engine';
import { STRATEGY_NAMES, type StrategyName } from '@keylane/engine/baselines';
import { variableOf, type ServiceConfig } from '@keylane/item-service/config';
import { DEFAULT_DATABASE_URL, DEFAULT_REDIS_URL, redact } from '../fleet/index.js';

// What the commands share: their flag parsers, the Postgres and Redis flags, the usage hint.

/** The line after a usage error: where the full usage is, instead of printing all of it. */
export const usageHint = (command: string): string => `run \`${command} --help\` for the usage`;

/** `keylane bench`: the command's names from the program down, as the user typed them. */
export function commandPath(command: Command): string {
  const names: string[] = [];
  for (let c: Command | null = command; c !== null; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/** What the caller's environment sets for an instance's setting (its KEYLANE_* variable). */
export const env = (key: keyof ServiceConfig): string | undefined => {
  const value = process.env[variableOf(key)];
  return value === undefined || value === '' ? undefined : value;
};

export function integerIn(min: number, max: number) {
  return (raw: string): number => {
    const value = /^-?[0-9]+$/.test(raw) ? Number(raw) : Number.NaN;
    if (!Number.isSafeInteger(value) || value < min || value > max) {
      throw new InvalidArgumentError(`expected an integer from ${min} to ${max}`);
    }
    return value;
  };
}

/** A flag for one of the engine's options: the engine's range. */
export const engineRange = (option: IntegerOption) => integerIn(option.min, option.max);

export function strategyList(raw: string): StrategyName[] {
  return raw.split(',').map((name) => {
    const found = STRATEGY_NAMES.find((s) => s === name.trim());
    if (!found)
      throw new InvalidArgumentError(
        `unknown strategy "${name}"; expected ${STRATEGY_NAMES.join(', ')}`,
      );
    return found;
  });
}

// Help shows the default with any password masked (it may come from the environment).
const urlOption = (flags: string, description: string, value: string): Option =>
  new Option(flags, description).default(value, redact(value));
export const databaseUrlOption = (): Option =>
  urlOption(
    '--database-url <url>',
    `PostgreSQL connection string ($${variableOf('databaseUrl')})`,
    env('databaseUrl') ?? DEFAULT_DATABASE_URL,
  );
export const redisUrlOption = (): Option =>
  urlOption(
    '--redis-url <url>',
    `Redis URL ($${variableOf('redisUrl')})`,
    env('redisUrl') ?? DEFAULT_REDIS_URL,
  );

/** Digits only; the option's range is checked where the option is (resolveBenchOptions). */
export function digits(name: string) {
  return (value: string): number => {
    if (!/^\d+$/.test(value))
      throw new InvalidArgumentError(`${name} must be a non-negative integer, got "${value}"`);
    return Number(value);
  };
}

/** A comma-separated list of names out of `allowed`; blanks between commas are skipped. */
export function listOf<T extends string>(name: string, allowed: readonly T[]) {
  return (value: string): T[] => {
    const items = value
      .split(',')
      .map((v) => v.trim())
      .filter((v) => v !== '');
    for (const item of items) {
      if (!(allowed as readonly string[]).includes(item)) {
        throw new InvalidArgumentError(
          `${name}: unknown "${item}" (expected ${allowed.join(', ')})`,
        );
      }
    }
    return items as T[];
  };
}
