// One folder per jest run for the tarballs (test/lib/tarballs.ts packs into it once, for every
// test file that asks); the test workers inherit the variable.
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import process from 'node:process';

export default async function globalSetup() {
  process.env.KEYLANE_PACKED_DIR = await mkdtemp(join(tmpdir(), 'keylane-packed-'));
}
