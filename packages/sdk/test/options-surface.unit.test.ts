import { readFileSync } from 'node:fs';
import { describe, expect, it } from '@jest/globals';
import { DEFAULT_CLIENT_OPTIONS, DEFAULT_DNS_DISCOVERY_OPTIONS, DEFAULT_HEALTH_CHECK_OPTIONS } from '../src/index.js';
import { INTEGER_OPTIONS } from '../src/core/options.js';

// Each default is written once in code (an integer option's, with its range, in
// INTEGER_OPTIONS; the others in the DEFAULT_* objects); the JSDoc `@default` tags and the
// README's option table say it again for readers. A default changed in one place and not the
// others fails here.

const SOURCE = readFileSync(new URL('../src/core/options.ts', import.meta.url), 'utf8');
const README = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
const PREFIX: Record<string, string> = { ClientOptions: '', HealthCheckOptions: 'healthCheck.', DnsDiscoveryOptions: 'instances.' };

/** `path -> @default text` for every documented field of the options interfaces. */
function jsdocDefaults(): Map<string, string> {
  const out = new Map<string, string>();
  for (const [, name, body] of SOURCE.matchAll(/export interface (\w+) \{([\s\S]*?)\n\}/g)) {
    const prefix = PREFIX[name!];
    if (prefix === undefined) continue;
    for (const [, doc, field] of body!.matchAll(/\/\*\*((?:(?!\*\/)[\s\S])*)\*\/\s*(\w+)\??:/g)) {
      const tag = /@default (.+)/.exec(doc!);
      if (tag) out.set(prefix + field, tag[1]!.trim());
    }
  }
  return out;
}

/** `path -> default cell` of the README's option table. */
function readmeDefaults(): Map<string, string> {
  const out = new Map<string, string>();
  for (const [, path, cell] of README.matchAll(/^\| `([\w.]+)` \| ([^|]*) \|/gm)) out.set(path!, cell!.trim());
  return out;
}

describe('the option surface', () => {
  const integers = Object.entries(INTEGER_OPTIONS).filter(([, spec]) => spec.default !== undefined);
  /** Every default by its path, as the DEFAULT_* objects hold it. */
  const defaults: Record<string, unknown> = {
    ...Object.fromEntries(Object.entries(DEFAULT_CLIENT_OPTIONS)),
    ...Object.fromEntries(Object.entries(DEFAULT_HEALTH_CHECK_OPTIONS).map(([k, v]) => [`healthCheck.${k}`, v])),
    ...Object.fromEntries(Object.entries(DEFAULT_DNS_DISCOVERY_OPTIONS).map(([k, v]) => [`instances.${k}`, v])),
  };

  it('has every integer default in the DEFAULT_* objects, taken from INTEGER_OPTIONS', () => {
    for (const [path, spec] of integers) expect([path, defaults[path]]).toEqual([path, spec.default]);
  });

  it('says the same default in the JSDoc and the README', () => {
    const jsdoc = jsdocDefaults();
    const readme = readmeDefaults();
    for (const [path, value] of Object.entries(defaults)) {
      const text = typeof value === 'string' ? `'${value}'` : String(value);
      expect([path, jsdoc.get(path)]).toEqual([path, text]);
      expect([path, readme.get(path)]).toEqual([path, `\`${text}\``]);
    }
  });
});
