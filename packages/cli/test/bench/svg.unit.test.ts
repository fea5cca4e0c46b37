import { describe, expect, it } from '@jest/globals';
import { escapeXml, niceAxis, renderBarChart, spread } from '../../src/bench/index.js';
import { checkWellFormed } from './svg-check.js';

describe('renderBarChart', () => {
  const values: Record<string, number[] | null> = {
    '0/0': [100, 90, 120],
    '0/1': [50, 50, 50],
    '1/0': [300, 250, 310],
    '1/1': null,
  };
  const svg = renderBarChart({
    title: 'Throughput <ops> & more',
    unit: 'ops/s',
    groups: ['read-heavy', 'hot "key"'],
    series: [
      { name: 'serial-guarded', color: '#0072B2' },
      { name: 'locked', color: '#E69F00' },
    ],
    value: (g, s) => {
      const v = values[`${g}/${s}`];
      return v ? spread(v) : null;
    },
  });

  it('is well-formed SVG with names escaped', () => {
    const { elements } = checkWellFormed(svg);
    expect(elements[0]).toBe('svg');
    expect(svg).toContain('Throughput &lt;ops&gt; &amp; more');
    expect(svg).toContain('hot &quot;key&quot;');
  });

  it('draws one bar per measured value at its median, with a whisker only where runs differ', () => {
    const bars = [
      ...svg.matchAll(/<rect class="bar"[^>]*height="([\d.]+)"[^>]*><title>([^<]*)<\/title>/g),
    ];
    expect(bars).toHaveLength(3);
    const height = (label: string): number => Number(bars.find((b) => b[2]!.startsWith(label))![1]);
    expect(bars.map((b) => b[2])).toEqual([
      expect.stringContaining('read-heavy / serial-guarded: median 100'),
      expect.stringContaining('read-heavy / locked: median 50.00'),
      expect.stringContaining('hot &quot;key&quot; / serial-guarded: median 300'),
    ]);
    // Bar heights are proportional to the medians.
    expect(height('read-heavy / serial-guarded') / height('read-heavy / locked')).toBeCloseTo(2, 1);
    expect(
      height('hot &quot;key&quot; / serial-guarded') / height('read-heavy / serial-guarded'),
    ).toBeCloseTo(3, 1);
    expect([...svg.matchAll(/class="whisker"/g)]).toHaveLength(2);
  });

  it('lists every series in the legend', () => {
    expect(svg).toContain('>serial-guarded</text>');
    expect(svg).toContain('>locked</text>');
  });

  it('renders an empty chart without NaN', () => {
    const empty = renderBarChart({
      title: 'none',
      unit: 'ms',
      groups: ['a'],
      series: [{ name: 's', color: '#000' }],
      value: () => null,
    });
    checkWellFormed(empty);
    expect(empty).not.toContain('NaN');
  });
});

describe('niceAxis / escapeXml', () => {
  it('rounds the axis up to a round step', () => {
    expect(niceAxis(4321)).toEqual({ max: 5000, step: 1000 });
    expect(niceAxis(0.37)).toEqual({ max: 0.4, step: 0.1 });
    expect(niceAxis(0)).toEqual({ max: 1, step: 0.25 });
  });

  it('escapes the five characters that matter in attributes and text', () => {
    expect(escapeXml(`a<b>&"c"`)).toBe('a&lt;b&gt;&amp;&quot;c&quot;');
  });
});

describe('renderBarChart on a log axis', () => {
  it('makes bar heights proportional to decades above the axis floor', () => {
    const svg = renderBarChart({
      title: 'latency',
      unit: 'ms',
      groups: ['a'],
      series: [
        { name: 'p50', color: '#000' },
        { name: 'p99', color: '#111' },
        { name: 'p99.9', color: '#222' },
      ],
      value: (_g, s) => spread([[1, 10, 1000][s]!]),
      logScale: true,
    });
    checkWellFormed(svg);
    const heights = [...svg.matchAll(/<rect class="bar"[^>]*height="([\d.]+)"/g)].map((m) =>
      Number(m[1]),
    );
    // Axis 10^-1..10^3: 1 ms is one decade above the floor, 10 ms two, 1000 ms four (the top).
    expect(heights[0]).toBeGreaterThan(0);
    expect(heights[1]! / heights[0]!).toBeCloseTo(2, 1);
    expect(heights[2]! / heights[0]!).toBeCloseTo(4, 1);
    expect(svg).toContain('ms, log scale');
    expect(svg).toContain('>1k</text>');
  });
});

describe('renderBarChart with value labels', () => {
  const chart = (valueLabels: boolean): string =>
    renderBarChart({
      title: 'stale reads',
      unit: 'violations',
      groups: ['cache-aside', 'serial-guarded'],
      series: [{ name: 'plain', color: '#000' }],
      value: (g) => spread([[1197, 0][g]!]),
      valueLabels,
    });

  it('writes every median above its bar, a zero too', () => {
    const svg = chart(true);
    checkWellFormed(svg);
    expect([...svg.matchAll(/<text class="value"[^>]*>([^<]*)<\/text>/g)].map((m) => m[1])).toEqual(
      ['1.2k', '0'],
    );
  });

  it('writes none unless asked', () => {
    expect(chart(false)).not.toContain('class="value"');
  });
});
