import cliProgress from 'cli-progress';
import type { ScenarioProgress, ScenarioResult } from './scenario/index.js';
import { formatCount } from './table.js';

/** How the demo tells a person what it is doing; writes to stderr so stdout stays the report. */
export interface ProgressSink {
  begin(label: string): void;
  update(progress: ScenarioProgress): void;
  end(result: ScenarioResult): void;
  fail(err: unknown): void;
}

/** A bar per run on a terminal; plain lines elsewhere (CI logs, pipes). */
export function createProgressSink(stream: NodeJS.WriteStream = process.stderr): ProgressSink {
  return stream.isTTY ? new BarSink(stream) : new LineSink(stream);
}

/** Prints nothing (tests, `--json` piped into another program that does not want stderr noise). */
export const SILENT_PROGRESS: ProgressSink = { begin() {}, update() {}, end() {}, fail() {} };

function failure(err: unknown): string {
  if (err instanceof Error && err.name === 'AbortError') return 'interrupted';
  return `failed: ${err instanceof Error ? err.message : String(err)}`;
}

function summary(r: ScenarioResult): string {
  const fault = r.fault
    ? `, reroute ${r.fault.rerouteMs === null ? 'n/a' : `${r.fault.rerouteMs.toFixed(0)} ms`}`
    : '';
  return (
    `${formatCount(r.ops)} ops, ${formatCount(r.violations)} violations, ${formatCount(r.divergedKeys)} diverged, ` +
    `${formatCount(r.ackedWritesLost)} lost${fault}`
  );
}

class LineSink implements ProgressSink {
  private label = '';
  private lastPhase = '';
  constructor(private readonly stream: NodeJS.WritableStream) {}

  begin(label: string): void {
    this.label = label;
    this.lastPhase = '';
  }

  update(p: ScenarioProgress): void {
    if (p.event)
      this.stream.write(`${this.label}: ${p.event} at ${(p.elapsedMs / 1000).toFixed(1)} s\n`);
    if (p.phase !== this.lastPhase && p.phase !== 'done') {
      this.lastPhase = p.phase;
      this.stream.write(
        `${this.label}: ${p.phase}${p.phase === 'running' ? ` for ${(p.durationMs / 1000).toFixed(1)} s` : ''}\n`,
      );
    }
  }

  end(result: ScenarioResult): void {
    this.stream.write(`${this.label}: done, ${summary(result)}\n`);
  }

  fail(err: unknown): void {
    this.stream.write(`${this.label}: ${failure(err)}\n`);
  }
}

class BarSink implements ProgressSink {
  private bar: cliProgress.SingleBar | undefined;
  private label = '';
  constructor(private readonly stream: NodeJS.WriteStream) {}

  begin(label: string): void {
    this.label = label;
    this.bar = new cliProgress.SingleBar(
      {
        stream: this.stream,
        format: `${label.padEnd(30)} [{bar}] {percentage}% | {ops} ops | {notOk} not ok | {phase}`,
        hideCursor: true,
        clearOnComplete: true,
        barsize: 24,
      },
      cliProgress.Presets.shades_classic,
    );
    this.bar.start(100, 0, { ops: '0', notOk: '0', phase: 'starting fleet' });
  }

  update(p: ScenarioProgress): void {
    const pct =
      p.phase === 'starting'
        ? 0
        : p.phase === 'running'
          ? Math.min(99, (100 * p.elapsedMs) / p.durationMs)
          : 100;
    const phase =
      p.event ??
      (p.phase === 'starting'
        ? 'starting fleet'
        : p.phase === 'checking'
          ? 'checking history'
          : p.phase);
    this.bar?.update(Math.floor(pct), {
      ops: formatCount(p.ops),
      notOk: formatCount(p.notOk),
      phase,
    });
  }

  end(result: ScenarioResult): void {
    this.bar?.stop();
    this.bar = undefined;
    this.stream.write(`${this.label.padEnd(30)} ${summary(result)}\n`);
  }

  fail(err: unknown): void {
    this.bar?.stop();
    this.bar = undefined;
    this.stream.write(`${this.label}: ${failure(err)}\n`);
  }
}
