import { spawn, type ChildProcess } from 'node:child_process';
import { BenchMeasurementError } from './errors.js';

/** A helper process of the bench (the bare hop server) that announces its URL on stdout. */
export interface ChildServer {
  readonly url: string;
  readonly pid: number | undefined;
  stop(): Promise<void>;
}

/** `args` are the script's own (after its path on the command line). */
export async function startChildServer(
  script: string,
  args: readonly string[] = [],
  timeoutMs = 15_000,
): Promise<ChildServer> {
  const child: ChildProcess = spawn(process.execPath, [script, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  let output = '';
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () =>
        reject(
          new BenchMeasurementError(`${script} printed no URL within ${timeoutMs} ms: ${output}`),
        ),
      timeoutMs,
    );
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      output += chunk;
      const line = output.split('\n').find((l) => l.startsWith('http://'));
      if (line) {
        clearTimeout(timer);
        resolve(line.trim());
      }
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      reject(
        new BenchMeasurementError(
          `${script} exited with code ${code} before printing its URL: ${output}`,
        ),
      );
    });
  }).catch(async (err: unknown) => {
    child.kill('SIGKILL');
    await exited;
    throw err;
  });
  return {
    url,
    pid: child.pid,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
