import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

export const REPO_ROOT = fileURLToPath(new URL('../../../../', import.meta.url)).replace(/\/$/, '');

/** The fields of a package.json the checks read. */
export interface Manifest {
  name: string;
  version: string;
  private?: boolean;
  license?: string;
  keywords?: string[];
  homepage?: string;
  repository?: { type?: string; url?: string; directory?: string };
  bugs?: { url?: string };
  main?: string;
  types?: string;
  bin?: string | Record<string, string>;
  exports?: Record<string, string | Record<string, string>>;
  files?: string[];
  scripts?: Record<string, string>;
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  publishConfig?: Record<string, string>;
}

export interface WorkspacePackage {
  /** Relative to the repository root, e.g. `packages/sdk`. */
  dir: string;
  manifest: Manifest;
}

/** Every workspace package (packages/* and services/*, as pnpm-workspace.yaml lists them). */
export function workspacePackages(): WorkspacePackage[] {
  const out: WorkspacePackage[] = [];
  for (const group of ['packages', 'services']) {
    for (const name of readdirSync(join(REPO_ROOT, group)).sort()) {
      const dir = `${group}/${name}`;
      let text: string;
      try {
        text = readFileSync(join(REPO_ROOT, dir, 'package.json'), 'utf8');
      } catch {
        continue;
      }
      out.push({ dir, manifest: JSON.parse(text) as Manifest });
    }
  }
  return out;
}

/** The packages that get published: the workspace packages not marked private. */
export function publishedPackages(): WorkspacePackage[] {
  return workspacePackages().filter((p) => p.manifest.private !== true);
}

/** The published libraries: what other teams import. Everything published but the CLI. */
export function publishedLibraries(): WorkspacePackage[] {
  return publishedPackages().filter((p) => p.manifest.bin === undefined);
}

/** The published command line, `@keylane/cli`: the one published package with a `bin`. */
export function publishedCli(): WorkspacePackage {
  const found = publishedPackages().filter((p) => p.manifest.bin !== undefined);
  if (found.length !== 1) {
    throw new Error(`expected one published package with a bin, found ${found.length}`);
  }
  return found[0]!;
}

/** `@keylane/sdk` 0.1.0 -> `keylane-sdk-0.1.0.tgz`, the name both pnpm and npm give the tarball. */
export function tarballName(manifest: Pick<Manifest, 'name' | 'version'>): string {
  return `${manifest.name.replace(/^@/, '').replace('/', '-')}-${manifest.version}.tgz`;
}

// npm and pnpm must not inherit the npm_config_* settings `pnpm run test` exports.
export const CLEAN_ENV: NodeJS.ProcessEnv = Object.fromEntries(
  Object.entries(process.env).filter(([name]) => !name.toLowerCase().startsWith('npm_config_')),
);

export interface Ran {
  stdout: string;
  stderr: string;
}

/** Runs a command to completion; a non-zero exit throws with its output. */
export async function run(
  command: string,
  args: readonly string[],
  cwd: string,
  env: NodeJS.ProcessEnv = CLEAN_ENV,
): Promise<Ran> {
  try {
    const { stdout, stderr } = await execFileAsync(command, [...args], {
      cwd,
      env,
      maxBuffer: 32 * 1024 * 1024,
    });
    return { stdout, stderr };
  } catch (err) {
    const e = err as { code?: unknown; stdout?: string; stderr?: string };
    throw new Error(
      `${command} ${args.join(' ')} (in ${cwd}) failed with ${String(e.code)}:\n${e.stdout ?? ''}${e.stderr ?? ''}`,
      { cause: err },
    );
  }
}

/** `pnpm pack` in the package's folder (its prepack builds it); returns the tarball's path. */
export async function pack(pkg: WorkspacePackage, destination: string): Promise<string> {
  await run(
    'sh',
    [join(REPO_ROOT, 'scripts/pnpm.sh'), 'pack', '--pack-destination', destination],
    join(REPO_ROOT, pkg.dir),
  );
  return join(destination, tarballName(pkg.manifest));
}

/** The paths inside a tarball, without npm's `package/` folder, sorted. */
export async function tarballFiles(tarball: string): Promise<string[]> {
  const { stdout } = await run('tar', ['-tzf', tarball], REPO_ROOT);
  return stdout
    .split('\n')
    .filter((line) => line !== '' && !line.endsWith('/'))
    .map((line) => line.replace(/^package\//, ''))
    .sort();
}
