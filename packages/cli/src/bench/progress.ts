import cliProgress from 'cli-progress';

/** What the bench tells a person while it runs; always stderr, so stdout stays the table. */
export interface BenchProgress {
  begin(totalSteps: number): void;
  /** A new phase starts (one step of the total). */
  step(label: string): void;
  /** How far the current phase is, in [0, 1]. */
  tick(share: number): void;
  end(): void;
}

export const SILENT_PROGRESS: BenchProgress = { begin() {}, step() {}, tick() {}, end() {} };

/** A bar on a terminal, one line per phase elsewhere (CI logs, pipes). */
export function createProgress(stream: NodeJS.WriteStream = process.stderr): BenchProgress {
  return stream.isTTY ? barProgress(stream) : lineProgress(stream);
}

function barProgress(stream: NodeJS.WriteStream): BenchProgress {
  const bar = new cliProgress.SingleBar(
    {
      stream,
      format: 'bench [{bar}] {percentage}% | {value}/{total} | {phase}',
      hideCursor: true,
      clearOnComplete: false,
      etaBuffer: 20,
    },
    cliProgress.Presets.shades_classic,
  );
  let done = 0;
  let label = '';
  return {
    begin(total) {
      bar.start(total, 0, { phase: 'starting' });
    },
    step(next) {
      if (label !== '') done += 1;
      label = next;
      bar.update(done, { phase: next });
    },
    tick(share) {
      bar.update(done + Math.max(0, Math.min(0.99, share)), { phase: label });
    },
    end() {
      bar.update(bar.getTotal(), { phase: 'done' });
      bar.stop();
    },
  };
}

function lineProgress(stream: NodeJS.WritableStream): BenchProgress {
  let total = 0;
  let n = 0;
  const started = Date.now();
  return {
    begin(steps) {
      total = steps;
    },
    step(label) {
      n += 1;
      stream.write(
        `bench ${n}/${total} +${((Date.now() - started) / 1000).toFixed(1)}s ${label}\n`,
      );
    },
    tick() {},
    end() {
      stream.write(`bench done in ${((Date.now() - started) / 1000).toFixed(1)}s\n`);
    },
  };
}
