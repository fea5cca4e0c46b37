import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pack, publishedPackages, REPO_ROOT, run, type WorkspacePackage } from './packages.js';

/** A file no source compiles to, planted before packing: no prepack may let it into a tarball. */
export const STALE = join(REPO_ROOT, 'packages/protocol/dist/stale-output.js');

export interface PackedSet {
  /** Package name -> tarball path. */
  tarballs: Map<string, string>;
  /** What each pack took, or who packed them when this file reused another's tarballs. */
  timings: string[];
}

interface PackRecord {
  tarballs: [string, string][];
  timings: string[];
}

/**
 * Every published package packed once per jest run, whichever test file asks first: packing
 * builds into the packages' own dist/ folders, so two files packing at once would race, and
 * packing twice would only cost time. test/global-setup.mjs names the shared folder
 * (KEYLANE_PACKED_DIR); a file run without it packs for itself.
 */
export async function packPublishedOnce(): Promise<PackedSet> {
  const shared = process.env['KEYLANE_PACKED_DIR'];
  const dir = shared ?? (await mkdtemp(join(tmpdir(), 'keylane-packed-')));
  const done = join(dir, 'packed.json');
  const failed = join(dir, 'failed.txt');
  try {
    await mkdir(join(dir, 'packing')); // atomic: exactly one file gets to pack
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    const deadline = Date.now() + 300_000;
    while (Date.now() < deadline) {
      const record = await readFile(done, 'utf8').catch(() => undefined);
      if (record !== undefined) {
        const { tarballs } = JSON.parse(record) as PackRecord;
        return { tarballs: new Map(tarballs), timings: ['packed by another test file'] };
      }
      const failure = await readFile(failed, 'utf8').catch(() => undefined);
      if (failure !== undefined)
        throw new Error(`packing failed in another test file:\n${failure}`);
      await sleep(200);
    }
    throw new Error(`no tarballs in ${dir} after 300 s`);
  }
  const timings: string[] = [];
  const tarballs = new Map<string, string>();
  try {
    await mkdir(join(REPO_ROOT, 'packages/protocol/dist'), { recursive: true });
    await writeFile(STALE, 'export {};\n');
    for (const pkg of publishedPackages()) {
      const started = Date.now();
      tarballs.set(pkg.manifest.name, await pack(pkg, dir));
      timings.push(`pack ${pkg.manifest.name} ${((Date.now() - started) / 1000).toFixed(1)} s`);
    }
  } catch (err) {
    await writeFile(failed, String(err));
    throw err;
  } finally {
    await rm(STALE, { force: true }); // in case packing failed before the prepack removed it
  }
  const record: PackRecord = { tarballs: [...tarballs], timings };
  await writeFile(`${done}.tmp`, JSON.stringify(record));
  await rename(`${done}.tmp`, done); // readers never see half a file
  return { tarballs, timings };
}

/** Unpacks a tarball (without npm's `package/` folder) into `into`; returns `into`. */
export async function unpack(tarball: string, into: string): Promise<string> {
  await mkdir(into, { recursive: true });
  await run('tar', ['-xzf', tarball, '-C', into, '--strip-components=1'], into);
  return into;
}

/** A fresh scratch project in the temp folder with the tarballs installed by npm (not pnpm). */
export async function installTarballs(
  name: string,
  packages: readonly WorkspacePackage[],
  packed: PackedSet,
): Promise<{ app: string; seconds: number }> {
  const app = await mkdtemp(join(tmpdir(), `keylane-${name}-`));
  await writeFile(join(app, 'package.json'), JSON.stringify({ name, private: true }));
  const started = Date.now();
  await run(
    'npm',
    [
      'install',
      '--no-audit',
      '--no-fund',
      '--loglevel=error',
      // Third-party dependencies from npm's cache when it has them, the registry otherwise.
      '--prefer-offline',
      ...packages.map((p) => packed.tarballs.get(p.manifest.name)!),
    ],
    app,
  );
  return { app, seconds: (Date.now() - started) / 1000 };
}

/** Labelled durations a test file prints at its end, so a slow CI run says where the time went. */
export class Timings {
  readonly lines: string[] = [];

  async timed<T>(label: string, work: () => Promise<T>): Promise<T> {
    const started = Date.now();
    try {
      return await work();
    } finally {
      this.add(label, (Date.now() - started) / 1000);
    }
  }

  add(label: string, seconds: number): void {
    this.lines.push(`${label} ${seconds.toFixed(1)} s`);
  }
}
