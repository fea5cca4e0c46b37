import { parser } from '@prometheus-io/lezer-promql';

/** A vector selector: `metric{label op "value", ...}`. */
export interface Selector {
  metric: string;
  matchers: Array<{ label: string; op: string; value: string }>;
}

export interface PromqlAnalysis {
  selectors: Selector[];
  /** Labels named in `by (...)`, `without (...)`, `on (...)`, `ignoring (...)`, `group_left (...)`. */
  groupingLabels: string[];
  /** Syntax errors, with the column they start at; empty when the expression parses. */
  errors: string[];
}

/**
 * Parses a PromQL expression with Prometheus' own grammar (the Lezer parser its web UI uses,
 * `@prometheus-io/lezer-promql`), which marks what it cannot parse (a missing parenthesis, an
 * unknown function, a stray word) as error nodes, and lists the metric names and labels the
 * expression reads.
 */
export function analyzePromql(expr: string): PromqlAnalysis {
  const tree = parser.parse(expr);
  const text = (from: number, to: number): string => expr.slice(from, to);
  const selectors: Selector[] = [];
  const groupingLabels: string[] = [];
  const errors: string[] = [];
  const cursor = tree.cursor();
  do {
    const node = cursor.node;
    if (node.type.isError) {
      errors.push(
        `syntax error at column ${node.from + 1}: ${JSON.stringify(text(node.from, node.from + 20))}`,
      );
      continue;
    }
    if (node.name === 'VectorSelector') {
      const name = node.getChild('Identifier');
      const selector: Selector = { metric: name ? text(name.from, name.to) : '', matchers: [] };
      if (!name) errors.push(`selector without a metric name at column ${node.from + 1}`);
      for (const matcher of node.getChild('LabelMatchers')?.getChildren('UnquotedLabelMatcher') ??
        []) {
        const label = matcher.getChild('LabelName');
        const op = matcher.getChild('MatchOp');
        const value = matcher.getChild('StringLiteral');
        if (!label || !op || !value) continue; // already an error node
        selector.matchers.push({
          label: text(label.from, label.to),
          op: text(op.from, op.to),
          value: JSON.parse(text(value.from, value.to).replace(/^'|'$/g, '"')) as string,
        });
      }
      for (const quoted of node.getChild('LabelMatchers')?.getChildren('QuotedLabelMatcher') ??
        []) {
        errors.push(
          `quoted label matcher ${text(quoted.from, quoted.to)} (not used here; unchecked)`,
        );
      }
      selectors.push(selector);
    } else if (node.name === 'GroupingLabels') {
      for (const label of node.getChildren('LabelName'))
        groupingLabels.push(text(label.from, label.to));
    }
  } while (cursor.next());
  return { selectors, groupingLabels, errors };
}
