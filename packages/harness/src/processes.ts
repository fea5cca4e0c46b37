import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * A node child process with its output kept as lines, for tests that start the real bins
 * (item service, example caller) and read what they log.
 */
export interface Proc {
  readonly child: ChildProcess;
  readonly lines: string[];
  readonly stderr: string[];
  readonly exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const live = new Set<ChildProcess>();

/**
 * `node <args>` with only PATH inherited (the process sees exactly the environment the test
 * gives it), its stdout split into lines as they come (each also handed to `onLine`), its stderr
 * kept as chunks. The one spawn under startProcess and startServiceBin.
 */
function spawnNode(
  args: readonly string[],
  env: Record<string, string>,
  cwd: string | undefined,
  onLine?: (line: string) => void,
): { child: ChildProcess; lines: string[]; stderr: string[] } {
  const child = spawn(process.execPath, [...args], {
    env: { PATH: process.env['PATH'] ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(cwd === undefined ? {} : { cwd }),
  });
  live.add(child);
  const lines: string[] = [];
  const stderr: string[] = [];
  let partial = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    const parts = (partial + chunk).split('\n');
    partial = parts.pop() ?? '';
    for (const line of parts) {
      lines.push(line);
      onLine?.(line);
    }
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => stderr.push(chunk));
  return { child, lines, stderr };
}

/** `node <args>` (a script path, or the arguments after `node`). */
export function startProcess(
  args: string | readonly string[],
  env: Record<string, string>,
  options: { cwd?: string } = {},
): Proc {
  const { child, lines, stderr } = spawnNode(
    typeof args === 'string' ? [args] : args,
    env,
    options.cwd,
  );
  const exit = once(child, 'close').then(([code, signal]) => {
    live.delete(child);
    return { code: code as number | null, signal: signal as NodeJS.Signals | null };
  });
  return { child, lines, stderr, exit };
}

/** A service bin (the item or the cart service) started by {@link startServiceBin}. */
export interface ServiceProc {
  readonly child: ChildProcess;
  /** Its stdout, a JSON log line each. */
  readonly stdout: string[];
  readonly stderr: string[];
  /** How and when (`at`, ms since the epoch) it exited. */
  readonly exit: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
  /** The URL of its `listening` log line. */
  readonly url: Promise<string>;
}

/**
 * `node <bin>` of a service that logs JSON lines (pino) and one `{"msg":"listening","url":...}`
 * once it serves. Only PATH is inherited. A stdout line that is not JSON throws: the services log
 * nothing else there.
 */
export function startServiceBin(bin: string, env: Record<string, string>): ServiceProc {
  let resolveUrl: (url: string) => void = () => undefined;
  const url = new Promise<string>((resolve) => {
    resolveUrl = resolve;
  });
  const { child, lines, stderr } = spawnNode([bin], env, undefined, (line) => {
    const parsed = JSON.parse(line) as { msg?: string; url?: string };
    if (parsed.msg === 'listening' && parsed.url) resolveUrl(parsed.url);
  });
  // 'exit', not 'close': the drain tests time the exit itself.
  const exit = once(child, 'exit').then(([code, signal]) => {
    live.delete(child);
    return { code: code as number | null, signal: signal as NodeJS.Signals | null, at: Date.now() };
  });
  return { child, stdout: lines, stderr, exit, url };
}

/** Polls `url` until it answers 200; fails early if the process exits. */
export async function waitHttpOk(proc: Proc, url: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  void proc.exit.then(() => {
    exited = true;
  });
  for (;;) {
    if (exited)
      throw new Error(
        `process exited before ${url} answered:\n${proc.lines.join('\n')}${proc.stderr.join('')}`,
      );
    const ok = await fetch(url, { signal: AbortSignal.timeout(1000) }).then(
      (res) => res.status === 200,
      () => false,
    );
    if (ok) return;
    if (Date.now() > deadline)
      throw new Error(`${url} not ready within ${timeoutMs} ms:\n${proc.lines.join('\n')}`);
    await sleep(100);
  }
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves with how it exited. */
export async function stopProcess(
  proc: Proc,
  graceMs = 15_000,
): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (proc.child.exitCode === null && proc.child.signalCode === null) proc.child.kill('SIGTERM');
  const timer = setTimeout(() => proc.child.kill('SIGKILL'), graceMs);
  try {
    return await proc.exit;
  } finally {
    clearTimeout(timer);
  }
}

export function killAll(): void {
  for (const child of live) child.kill('SIGKILL');
}

export function parseJsonLines(lines: readonly string[]): Array<Record<string, unknown>> {
  return lines.filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** Whether `pid` is a running process (for tests that check nothing was left behind). */
export function processAlive(pid: number | undefined): boolean {
  if (pid === undefined) return false;
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // A killed process whose parent is gone stays a zombie until init reaps it: dead all the same.
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}
