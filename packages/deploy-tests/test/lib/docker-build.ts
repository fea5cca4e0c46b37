import { execFile } from 'node:child_process';
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import {
  envOf,
  parseDockerfile,
  parsePairs,
  substitute,
  type Dockerfile,
  type Instruction,
  type Stage,
} from './dockerfile.js';
import { readJson, REPO_ROOT } from './repo.js';

const run = promisify(execFile);

/**
 * Runs a Dockerfile's stages without a Docker engine, each stage in its own folder standing in
 * for its filesystem root: COPY copies (from the build context with .dockerignore applied, or
 * from an earlier stage's folder), WORKDIR sets the directory, RUN runs the same command with
 * container paths mapped into the stage's folder. The few substitutions are explicit and
 * checked: the global pnpm install is replaced by the repository's pinned pnpm (same version),
 * `npx turbo@V` by the repository's turbo (same version), and installs prefer the local store.
 * Any instruction it does not know stops it, so a new step in the Dockerfile cannot be skipped
 * silently.
 */
export interface EmulatedBuild {
  readonly file: Dockerfile;
  /** The folder standing in for each stage's `/`. */
  readonly roots: ReadonlyMap<string, string>;
  /** The last stage: its folder, WORKDIR (mapped) and ENV. */
  readonly runtime: { stage: Stage; root: string; workdir: string; env: Record<string, string> };
  /** What ran, in order, for failure messages. */
  readonly transcript: readonly string[];
}

const KNOWN_NOOPS = new Set([
  'USER',
  'EXPOSE',
  'HEALTHCHECK',
  'CMD',
  'ENTRYPOINT',
  'STOPSIGNAL',
  'LABEL',
  'ARG',
  'ENV',
]);

export interface EmulateOptions {
  /**
   * A turbo cache folder shared between emulated builds. Docker's layer cache plays this part
   * between real builds; outputs are identical, only the time differs.
   */
  turboCacheDir?: string;
  /** The Dockerfile's text when it is not the file itself (a doctored copy). */
  text?: string;
  /** Stages already built by an earlier emulation, by name: their folders are used as they are. */
  reuse?: ReadonlyMap<string, string>;
}

export async function emulateDockerBuild(
  dockerfilePath: string,
  workDir: string,
  timeoutMs: number,
  options: EmulateOptions = {},
): Promise<EmulatedBuild> {
  const file = parseDockerfile(options.text ?? readFileSync(dockerfilePath, 'utf8'));
  const transcript: string[] = [];
  const deadline = Date.now() + timeoutMs;
  const shims = join(workDir, 'shims');
  mkdirSync(shims, { recursive: true });
  // `pnpm` on PATH, as the image's global install provides it: the pinned version.
  writeFileSync(
    join(shims, 'pnpm'),
    `#!/bin/sh\nexec sh ${JSON.stringify(join(REPO_ROOT, 'scripts/pnpm.sh'))} "$@"\n`,
  );
  chmodSync(join(shims, 'pnpm'), 0o755);

  const roots = new Map<string, string>();
  const workdirs = new Map<string, string>();
  let last: EmulatedBuild['runtime'] | undefined;
  for (const stage of file.stages) {
    const reused = options.reuse?.get(stage.name);
    if (reused !== undefined) {
      roots.set(stage.name, reused);
      continue;
    }
    const root = join(workDir, `stage-${stage.name}`);
    mkdirSync(root, { recursive: true });
    // A stage built FROM another starts with its files (here only ever the empty `base`).
    const parent = roots.get(stage.from);
    if (parent !== undefined) cpSync(parent, root, { recursive: true, verbatimSymlinks: true });
    roots.set(stage.name, root);
    let cwd = parent !== undefined ? (workdirs.get(stage.from) ?? '/') : '/';
    const args: Record<string, string> = {};
    const env: Record<string, string> = parent !== undefined ? inheritedEnv(file, stage.from) : {};
    for (const ins of stage.instructions) {
      const vars = { ...args, ...env };
      switch (ins.keyword) {
        case 'ARG': {
          const [name, value] = ins.rest.split('=', 2) as [string, string | undefined];
          args[name] = value ?? file.globalArgs[name] ?? '';
          break;
        }
        case 'ENV':
          Object.assign(
            env,
            Object.fromEntries(
              Object.entries(parsePairs(ins.rest)).map(([k, v]) => [k, substitute(v, vars)]),
            ),
          );
          break;
        case 'WORKDIR':
          cwd = ins.rest.startsWith('/') ? ins.rest : join(cwd, ins.rest);
          mkdirSync(join(root, cwd), { recursive: true });
          break;
        case 'COPY':
          copy(ins, root, cwd, roots, transcript);
          break;
        case 'RUN':
          await runStep(
            ins,
            substitute(ins.rest, vars),
            root,
            cwd,
            env,
            shims,
            transcript,
            deadline,
            options.turboCacheDir,
          );
          break;
        default:
          if (!KNOWN_NOOPS.has(ins.keyword)) {
            throw new Error(
              `line ${ins.line}: the emulated build does not know ${ins.keyword}; teach test/lib/docker-build.ts`,
            );
          }
      }
    }
    workdirs.set(stage.name, cwd);
    last = { stage, root, workdir: join(root, cwd), env: envOf(stage) };
  }
  return { file, roots, runtime: last!, transcript };
}

function inheritedEnv(file: Dockerfile, stageName: string): Record<string, string> {
  const stage = file.stages.find((s) => s.name === stageName);
  return stage ? envOf(stage) : {};
}

function copy(
  ins: Instruction,
  root: string,
  cwd: string,
  roots: ReadonlyMap<string, string>,
  transcript: string[],
): void {
  const parts = ins.rest.split(/\s+/);
  const dest = parts.pop()!;
  const from = ins.flags['from']?.[0];
  const sourceRoot = from === undefined ? REPO_ROOT : roots.get(from);
  if (sourceRoot === undefined)
    throw new Error(`line ${ins.line}: COPY --from=${from} names no earlier stage`);
  const destPath = join(root, dest.startsWith('/') ? dest : join(cwd, dest));
  for (const source of parts) {
    const sourcePath = join(sourceRoot, source);
    if (!existsSync(sourcePath)) {
      throw new Error(
        `line ${ins.line}: COPY source ${source} does not exist in ${from === undefined ? 'the build context' : `stage ${from}`}`,
      );
    }
    transcript.push(`COPY ${from ? `--from=${from} ` : ''}${source} ${dest}`);
    const ignore = from === undefined ? dockerIgnore() : undefined;
    if (statSync(sourcePath).isDirectory()) {
      // Docker copies a directory's contents, not the directory itself.
      cpSync(sourcePath, destPath, {
        recursive: true,
        verbatimSymlinks: true,
        filter: (path) => ignore === undefined || !ignore(relative(REPO_ROOT, path)),
      });
    } else {
      const target =
        dest.endsWith('/') || dest === '.' ? join(destPath, source.split('/').at(-1)!) : destPath;
      mkdirSync(join(target, '..'), { recursive: true });
      cpSync(sourcePath, target);
    }
  }
}

async function runStep(
  ins: Instruction,
  command: string,
  root: string,
  cwd: string,
  env: Record<string, string>,
  shims: string,
  transcript: string[],
  deadline: number,
  turboCacheDir: string | undefined,
): Promise<void> {
  const rootPackage = readJson<{ packageManager: string }>('package.json');
  let line = command;
  const globalPnpm = /^npm install -g pnpm@(\S+)$/.exec(line);
  if (globalPnpm) {
    const pinned = rootPackage.packageManager.replace(/^pnpm@/, '');
    if (globalPnpm[1] !== pinned)
      throw new Error(
        `line ${ins.line}: installs pnpm ${globalPnpm[1]}, the repository pins ${pinned}`,
      );
    transcript.push(`RUN ${line}  (skipped: the shim runs the pinned pnpm ${pinned})`);
    return;
  }
  // Container paths (/pruned, /deploy, /app) live under the stage's folder.
  line = line.replace(
    /(^|\s)(\/[A-Za-z0-9._/-]*)/g,
    (_m, space: string, path: string) => `${space}${join(root, path)}`,
  );
  const turbo = /^npx -y turbo@(\S+) /.exec(line);
  if (turbo) {
    const installed = readJson<{ version: string }>('node_modules/turbo/package.json').version;
    if (turbo[1] !== installed)
      throw new Error(`line ${ins.line}: runs turbo ${turbo[1]}, the lockfile has ${installed}`);
    line = line.replace(turbo[0], `${join(REPO_ROOT, 'node_modules/.bin/turbo')} `);
  }
  if (/^pnpm install\b/.test(line)) line += ' --prefer-offline';
  const started = Date.now();
  const remaining = deadline - Date.now();
  if (remaining <= 0) throw new Error(`line ${ins.line}: out of time before ${command}`);
  // The stage's ENV minus what points into the image's own filesystem (PNPM_HOME, PATH): the
  // pnpm store stays this machine's, as the Dockerfile's cache mount keeps it out of the image.
  const { PNPM_HOME: _home, PATH: _path, ...stageEnv } = env;
  try {
    await run('sh', ['-c', line], {
      cwd: join(root, cwd),
      env: {
        ...process.env,
        ...stageEnv,
        PATH: `${shims}:${process.env['PATH'] ?? ''}`,
        ...(turboCacheDir === undefined ? {} : { TURBO_CACHE_DIR: turboCacheDir }),
      },
      timeout: remaining,
      maxBuffer: 64 * 1024 * 1024,
    });
    transcript.push(`RUN ${line}  (${Date.now() - started} ms)`);
  } catch (err) {
    transcript.push(`RUN ${line}  (failed after ${Date.now() - started} ms)`);
    const { stdout = '', stderr = '' } = err as { stdout?: string; stderr?: string };
    throw new Error(
      `line ${ins.line}: ${command} failed:\n${String(stdout).slice(-4000)}\n${String(stderr).slice(-4000)}`,
      {
        cause: err,
      },
    );
  }
}

/** The repository's .dockerignore as a predicate on context-relative paths (no `!` rules). */
export function dockerIgnore(
  text = readFileSync(join(REPO_ROOT, '.dockerignore'), 'utf8'),
): (path: string) => boolean {
  const patterns = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  if (patterns.some((p) => p.startsWith('!')))
    throw new Error('.dockerignore exceptions (!) are not emulated');
  const regexes = patterns.map((p) => {
    const body = p
      .replace(/^\//, '')
      .split(/(\*\*\/|\*|\?)/)
      .map((part) =>
        part === '**/'
          ? '(?:.*/)?'
          : part === '*'
            ? '[^/]*'
            : part === '?'
              ? '[^/]'
              : part.replace(/[.+^${}()|[\]\\]/g, '\\$&'),
      )
      .join('');
    // A match on a directory excludes everything under it.
    return new RegExp(`^${body}(?:/.*)?$`);
  });
  return (path) => path !== '' && regexes.some((r) => r.test(path));
}
