import { readFileSync } from 'node:fs';
import { lastOf, parseDockerfile } from './dockerfile.js';

/** Whether the image a Dockerfile builds (its last stage) declares a HEALTHCHECK. */
export function imageHasHealthcheck(path: string): boolean {
  const file = parseDockerfile(readFileSync(path, 'utf8'));
  const check = lastOf(file.stages.at(-1)!, 'HEALTHCHECK');
  return check !== undefined && check.rest.trim().toUpperCase() !== 'NONE';
}
