import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { BENCH, DATABASE_URL, isolatedArgs } from './bench-bin.js';

/** Pids of the processes whose environment names `schema` (the fleet's instances). */
async function processesOf(schema: string): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const environ = await readFile(`/proc/${entry}/environ`, 'latin1').catch(() => '');
    if (environ.split('\0').includes(`KEYLANE_DB_SCHEMA=${schema}`)) pids.push(Number(entry));
  }
  return pids;
}

describe('keylane bench interrupted', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
  });

  it('stops its fleet, drops its scratch schema and exits 130 on SIGINT', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'keylane-bench-int-'));
    dirs.push(dir);
    const child = spawn(
      process.execPath,
      [
        ...BENCH,
        '--only',
        'strategies',
        '--strategies',
        'serial-guarded',
        '--runs',
        '1',
        '--duration',
        '2000',
        '--keys',
        '300',
        ...isolatedArgs(dir),
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stderr = '';
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    const exited = new Promise<number | null>((resolve) =>
      child.on('exit', (code) => resolve(code)),
    );
    // Interrupt once the fleet is up and a measured phase runs.
    const schema = await new Promise<string>((resolve, reject) => {
      let found: string | undefined;
      child.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
        found ??= /in schema (\S+)/.exec(stderr)?.[1];
        if (found !== undefined && /read-heavy closed loop/.test(stderr)) resolve(found);
      });
      void exited.then(() => reject(new Error(`bench exited before its fleet ran:\n${stderr}`)));
    });
    expect(await processesOf(schema)).toHaveLength(3);
    child.kill('SIGINT');
    expect(await exited).toBe(130);
    expect(stderr).toContain('interrupted; fleets stopped and scratch data removed');
    expect(stdout).toBe('');
    expect(await processesOf(schema)).toEqual([]);
    const db = new pg.Client({ connectionString: DATABASE_URL });
    await db.connect();
    try {
      const { rowCount } = await db.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [
        schema,
      ]);
      expect(rowCount).toBe(0);
    } finally {
      await db.end();
    }
    await expect(readdir(join(dir, 'results'))).rejects.toMatchObject({ code: 'ENOENT' });
  }, 60_000);
});
