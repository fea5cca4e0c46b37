// Removes what test/global-setup.mjs made (this runs in the same process, so it sees the variable).
import { rm } from 'node:fs/promises';
import process from 'node:process';

export default async function globalTeardown() {
  const dir = process.env.KEYLANE_PACKED_DIR;
  if (dir) await rm(dir, { recursive: true, force: true });
}
