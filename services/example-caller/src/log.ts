/** One JSON object per line on stdout: readable in `docker compose logs`, parseable in tests. */
export type LogLevel = 'info' | 'warn' | 'error';

export type Log = (level: LogLevel, msg: string, fields?: Record<string, unknown>) => void;

export function jsonLineLog(
  write: (line: string) => void = (line) => process.stdout.write(line),
): Log {
  return (level, msg, fields = {}) => {
    write(
      `${JSON.stringify({ level, time: new Date().toISOString(), msg, ...fields }, bigints)}\n`,
    );
  };
}

function bigints(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? value.toString() : value;
}
