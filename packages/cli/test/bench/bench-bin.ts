import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** `node <this> ...`: the built `keylane` bin's bench command, which the end-to-end tests run. */
export const BENCH: readonly string[] = [
  fileURLToPath(new URL('../../dist/bin.js', import.meta.url)),
  'bench',
];
export const DATABASE_URL =
  process.env['KEYLANE_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';
export const REDIS_URL = process.env['KEYLANE_REDIS_URL'] ?? 'redis://127.0.0.1:6379';

/** Arguments that keep a test run's outputs in `dir` and point it at the local databases. */
export function isolatedArgs(dir: string): string[] {
  return [
    '--out',
    join(dir, 'results'),
    '--report',
    join(dir, 'report.md'),
    '--database-url',
    DATABASE_URL,
    '--redis-url',
    REDIS_URL,
  ];
}
