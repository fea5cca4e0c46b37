import type { Spread } from './stats.js';

export interface BarSeries {
  name: string;
  color: string;
}

export interface BarChart {
  title: string;
  /** Axis label, e.g. "ops/s" or "ms". */
  unit: string;
  /** Groups along the x axis (e.g. workloads). */
  groups: readonly string[];
  /** Bars within each group (e.g. strategies). */
  series: readonly BarSeries[];
  /** The bar of series `s` in group `g`; null draws nothing (not measured). */
  value: (group: number, series: number) => Spread | null;
  /**
   * A log10 axis, for values that span decades (a 2 ms p50 beside a 2 s p99.9). Bars then rise
   * from the power of ten below the smallest value. @default false
   */
  logScale?: boolean;
  /**
   * Writes each bar's median above it, so a value of 0 (a bar of no height) still reads as 0
   * rather than as "not measured". @default false
   */
  valueLabels?: boolean;
  /** The small print in the bottom right corner. @default 'bar: median; whisker: min-max' */
  footnote?: string;
}

/** Colour-blind-safe (Okabe-Ito) palette, in series order. */
export const PALETTE = [
  '#0072B2',
  '#E69F00',
  '#009E73',
  '#CC79A7',
  '#56B4E9',
  '#D55E00',
  '#F0E442',
  '#000000',
] as const;

const WIDTH = 860;
const HEIGHT = 420;
const MARGIN = { top: 48, right: 190, bottom: 56, left: 72 };

/**
 * A grouped bar chart as a standalone SVG document: one bar per series in each group at the
 * median, a whisker from min to max. Every bar is a `<rect class="bar">` with a `<title>`
 * (hover text, and what tests count). No dependencies: the charts are simple enough.
 */
export function renderBarChart(chart: BarChart): string {
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  let top = 0;
  let bottom = Number.POSITIVE_INFINITY;
  for (let g = 0; g < chart.groups.length; g++) {
    for (let s = 0; s < chart.series.length; s++) {
      const v = chart.value(g, s);
      if (v) {
        top = Math.max(top, v.max, v.median);
        if (v.min > 0) bottom = Math.min(bottom, v.min);
      }
    }
  }
  const log = chart.logScale === true && top > 0 && Number.isFinite(bottom);
  const { max: axisMax, step } = niceAxis(top);
  // A value that is itself a power of ten still gets a visible bar: the floor is the decade below.
  const logLow = log ? Math.floor(Math.log10(bottom) - 1e-9) : 0;
  const logHigh = log ? Math.max(logLow + 1, Math.ceil(Math.log10(top))) : 0;
  const y = (v: number): number => {
    if (log) {
      const share = (Math.log10(Math.max(v, 10 ** logLow)) - logLow) / (logHigh - logLow);
      return MARGIN.top + plotH - share * plotH;
    }
    return MARGIN.top + plotH - (axisMax === 0 ? 0 : (v / axisMax) * plotH);
  };
  const ticks: number[] = [];
  if (log) for (let e = logLow; e <= logHigh; e++) ticks.push(10 ** e);
  else for (let v = 0; v <= axisMax + step / 2; v += step) ticks.push(v);
  const groupW = plotW / Math.max(1, chart.groups.length);
  const barW = Math.max(2, (groupW * 0.8) / Math.max(1, chart.series.length));
  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="sans-serif" font-size="12">`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="#ffffff"/>`,
    `<text x="${WIDTH / 2}" y="24" text-anchor="middle" font-size="15" font-weight="bold">${escapeXml(chart.title)}</text>`,
  );
  for (const v of ticks) {
    const yy = y(v).toFixed(1);
    parts.push(
      `<line x1="${MARGIN.left}" x2="${MARGIN.left + plotW}" y1="${yy}" y2="${yy}" stroke="#dddddd"/>`,
      `<text x="${MARGIN.left - 6}" y="${yy}" text-anchor="end" dominant-baseline="middle">${escapeXml(formatTick(v))}</text>`,
    );
  }
  parts.push(
    `<text x="18" y="${MARGIN.top + plotH / 2}" text-anchor="middle" transform="rotate(-90 18 ${MARGIN.top + plotH / 2})">${escapeXml(log ? `${chart.unit}, log scale` : chart.unit)}</text>`,
  );
  for (let g = 0; g < chart.groups.length; g++) {
    const gx = MARGIN.left + g * groupW + groupW * 0.1;
    for (let s = 0; s < chart.series.length; s++) {
      const v = chart.value(g, s);
      if (!v) continue;
      const x = gx + s * barW;
      const yTop = y(v.median);
      const label = `${chart.groups[g]} / ${chart.series[s]!.name}: median ${formatValue(v.median)} (min ${formatValue(v.min)}, max ${formatValue(v.max)}) ${chart.unit}`;
      parts.push(
        `<rect class="bar" x="${x.toFixed(1)}" y="${yTop.toFixed(1)}" width="${(barW - 1).toFixed(1)}" height="${(MARGIN.top + plotH - yTop).toFixed(1)}" fill="${chart.series[s]!.color}"><title>${escapeXml(label)}</title></rect>`,
      );
      if (chart.valueLabels === true) {
        parts.push(
          `<text class="value" x="${(x + (barW - 1) / 2).toFixed(1)}" y="${(yTop - 4).toFixed(1)}" text-anchor="middle" font-size="11">${escapeXml(formatTick(v.median))}</text>`,
        );
      }
      if (v.max > v.min) {
        const cx = (x + (barW - 1) / 2).toFixed(1);
        parts.push(
          `<line class="whisker" x1="${cx}" x2="${cx}" y1="${y(v.min).toFixed(1)}" y2="${y(v.max).toFixed(1)}" stroke="#333333" stroke-width="1.2"/>`,
        );
      }
    }
    parts.push(
      `<text x="${(MARGIN.left + g * groupW + groupW / 2).toFixed(1)}" y="${MARGIN.top + plotH + 20}" text-anchor="middle">${escapeXml(chart.groups[g]!)}</text>`,
    );
  }
  parts.push(
    `<line x1="${MARGIN.left}" x2="${MARGIN.left + plotW}" y1="${MARGIN.top + plotH}" y2="${MARGIN.top + plotH}" stroke="#333333"/>`,
  );
  chart.series.forEach((s, i) => {
    const ly = MARGIN.top + i * 20;
    const lx = WIDTH - MARGIN.right + 16;
    parts.push(
      `<rect x="${lx}" y="${ly}" width="12" height="12" fill="${s.color}"/>`,
      `<text x="${lx + 18}" y="${ly + 10}">${escapeXml(s.name)}</text>`,
    );
  });
  parts.push(
    `<text x="${WIDTH - MARGIN.right + 16}" y="${HEIGHT - 16}" font-size="10" fill="#555555">${escapeXml(chart.footnote ?? 'bar: median; whisker: min-max')}</text>`,
    '</svg>',
  );
  return parts.join('\n') + '\n';
}

/** A round axis maximum >= top with 4-6 ticks. */
export function niceAxis(top: number): { max: number; step: number } {
  if (!(top > 0)) return { max: 1, step: 0.25 };
  const rough = top / 5;
  const magnitude = 10 ** Math.floor(Math.log10(rough));
  const step =
    [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => s >= rough) ?? 10 * magnitude;
  return { max: Math.ceil(top / step) * step, step };
}

export function escapeXml(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;');
}

function formatTick(v: number): string {
  if (v >= 1000) return `${+(v / 1000).toFixed(1)}k`;
  return `${+v.toPrecision(3)}`;
}

function formatValue(v: number): string {
  return v >= 100 ? v.toFixed(0) : v >= 1 ? v.toFixed(2) : v.toFixed(3);
}
