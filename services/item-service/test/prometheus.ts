/**
 * A strict reader of the Prometheus text exposition format (0.0.4), enough to prove that
 * /metrics parses: every line is a comment, blank, or `name{labels} value`; every sample
 * belongs to a family announced by # TYPE; label values are properly escaped.
 */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Exposition {
  types: Map<string, string>;
  samples: Sample[];
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+-?\d+)?$/;
const LABEL = /\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"\s*(,|$)/y;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);
const SUFFIXES = ['_bucket', '_sum', '_count', '_total', '_created'];

export function parsePrometheus(text: string): Exposition {
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  const lines = text.split('\n');
  lines.forEach((line, index) => {
    const where = `line ${index + 1}: ${JSON.stringify(line.slice(0, 120))}`;
    if (line.trim() === '') return;
    if (line.startsWith('#')) {
      const parts = line.split(' ');
      if (parts[1] === 'TYPE') {
        const [, , name, type] = parts;
        if (
          name === undefined ||
          !METRIC_NAME.test(name) ||
          type === undefined ||
          !TYPES.has(type)
        ) {
          throw new Error(`bad TYPE ${where}`);
        }
        if (types.has(name)) throw new Error(`duplicate TYPE for ${name} at ${where}`);
        types.set(name, type);
      } else if (parts[1] === 'HELP') {
        if (parts[2] === undefined || !METRIC_NAME.test(parts[2]))
          throw new Error(`bad HELP ${where}`);
      }
      return;
    }
    const match = SAMPLE.exec(line);
    if (!match) throw new Error(`not a sample: ${where}`);
    const name = match[1]!;
    const labels: Record<string, string> = {};
    const body = match[3];
    if (body !== undefined && body !== '') {
      LABEL.lastIndex = 0;
      while (LABEL.lastIndex < body.length) {
        const start = LABEL.lastIndex;
        const label = LABEL.exec(body);
        if (!label || label.index !== start) throw new Error(`bad labels at ${where}`);
        labels[label[1]!] = label[2]!
          .replace(/\\n/g, '\n')
          .replace(/\\"/g, '"')
          .replace(/\\\\/g, '\\');
        if (label[3] === '') break;
      }
    }
    const raw = match[4]!;
    // Prometheus reads values with Go's ParseFloat: NaN and (+/-)Inf in any letter case
    // (prom-client writes "Nan" for an empty event-loop histogram).
    const special = raw.toLowerCase();
    const value = /^[+-]?inf(inity)?$/.test(special)
      ? special.startsWith('-')
        ? -Infinity
        : Infinity
      : special === 'nan'
        ? NaN
        : /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(raw)
          ? Number(raw)
          : undefined;
    if (value === undefined) throw new Error(`bad value at ${where}`);
    const family = types.has(name)
      ? name
      : SUFFIXES.map((s) => (name.endsWith(s) ? name.slice(0, -s.length) : '')).find((f) =>
          types.has(f),
        );
    if (family === undefined) throw new Error(`sample without a # TYPE: ${where}`);
    samples.push({ name, labels, value });
  });
  return { types, samples };
}

/** Sum of the samples named `name` whose labels include `where`. */
export function sampleValue(
  exposition: Exposition,
  name: string,
  where: Record<string, string> = {},
): number {
  return exposition.samples
    .filter((s) => s.name === name && Object.entries(where).every(([k, v]) => s.labels[k] === v))
    .reduce((sum, s) => sum + s.value, 0);
}
