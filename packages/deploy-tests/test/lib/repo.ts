import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The repository root: the Docker build context and where every path in docker/ is relative to. */
export const REPO_ROOT = fileURLToPath(new URL('../../../../', import.meta.url)).replace(/\/$/, '');

export const DOCKER_DIR = `${REPO_ROOT}/docker`;

export function readRepoFile(relative: string): string {
  return readFileSync(`${REPO_ROOT}/${relative}`, 'utf8');
}

export function readJson<T>(relative: string): T {
  return JSON.parse(readRepoFile(relative)) as T;
}
