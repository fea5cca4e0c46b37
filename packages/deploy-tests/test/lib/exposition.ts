/** What a /metrics scrape offers: every series name with the labels and values seen on it. */
export interface Exposition {
  /** Metric families by name, with their `# TYPE`. */
  families: Map<string, string>;
  /** Series names (a histogram family `f` gives `f_bucket`, `f_sum`, `f_count`) -> label -> values. */
  series: Map<string, Map<string, Set<string>>>;
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+\S+(?:\s+\S+)?$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

const SERIES_OF_TYPE: Record<string, readonly string[]> = {
  histogram: ['_bucket', '_sum', '_count'],
  summary: ['', '_sum', '_count'],
};

/**
 * Parses Prometheus text exposition (0.0.4). A family with no sample yet (a labelled counter
 * nobody incremented) still counts as exported: its `# TYPE` line names it. A line that is
 * neither a comment nor a sample throws.
 */
export function parseExposition(text: string): Exposition {
  const families = new Map<string, string>();
  const series = new Map<string, Map<string, Set<string>>>();
  const seriesOf = (name: string): Map<string, Set<string>> => {
    let labels = series.get(name);
    if (!labels) series.set(name, (labels = new Map<string, Set<string>>()));
    return labels;
  };
  for (const [index, line] of text.split('\n').entries()) {
    if (line === '' || line.startsWith('# HELP ')) continue;
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type) {
      families.set(type[1]!, type[2]!);
      for (const suffix of SERIES_OF_TYPE[type[2]!] ?? ['']) seriesOf(`${type[1]!}${suffix}`);
      continue;
    }
    const sample = SAMPLE.exec(line);
    if (!sample)
      throw new Error(`metrics line ${index + 1} is not a sample: ${JSON.stringify(line)}`);
    const labels = seriesOf(sample[1]!);
    for (const [, name, value] of (sample[2] ?? '').matchAll(LABEL)) {
      let values = labels.get(name!);
      if (!values) labels.set(name!, (values = new Set()));
      values.add(value!);
    }
  }
  return { families, series };
}
