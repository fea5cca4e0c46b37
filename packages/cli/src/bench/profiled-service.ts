// The item service under `node --cpu-prof`, for `keylane bench --cpu-prof-dir`. Node refuses
// --cpu-prof in NODE_OPTIONS, and the fleet launcher starts `node <serviceBin>` without extra
// flags, so the launcher starts this script instead and it starts the real service with the
// flag. Signals are passed on; the exit code is the service's, so the launcher sees no difference.
import { spawn } from 'node:child_process';
import { resolveServiceBin } from '../fleet/index.js';

const dir = process.env['BENCH_CPU_PROF_DIR'];
if (!dir) {
  process.stderr.write('profiled-service: BENCH_CPU_PROF_DIR is not set\n');
  process.exit(78);
}
const child = spawn(
  process.execPath,
  ['--cpu-prof', `--cpu-prof-dir=${dir}`, resolveServiceBin()],
  { stdio: 'inherit' },
);
for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => child.kill(signal));
child.once('exit', (code, signal) => {
  process.exitCode = code ?? (signal ? 1 : 0);
});
