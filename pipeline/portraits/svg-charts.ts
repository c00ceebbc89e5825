/**
 * Small, dependency-free SVG charts for the territory portraits: stacked bars, grouped bars, the
 * annual consumption against the 2021–2030 allowance and a choropleth map. Each chart is a self-contained `<svg>` string with
 * role="img", a <title> and <desc> referenced by aria-labelledby, axis labels with units, French
 * number format, and static colours (readable in print, no script). Values arrive in display units.
 *
 * @example stackedBars({ id: 'stock', title: 'Stock', desc: '…', unit: 'ha', series, bars })
 */
import { esc, formatNumber } from './format.js';

/** One colour per décret 2023-1096 category (index = category; 0 = unclassified), shared by charts and legends. */
export const CATEGORY_COLORS: readonly string[] = [
  '#9e9e9e', // 0 non classé
  '#b2182b', // 1 bâti
  '#e34a33', // 2 revêtu
  '#fc8d59', // 3 stabilisé, minéral
  '#fdcc8a', // 4 herbacé à usage artificiel
  '#8c510a', // 5 en chantier ou abandonné
  '#4393c3', // 6 sols nus naturels, eau
  '#e6d86a', // 7 cultures
  '#1b7837', // 8 sylviculture
  '#5aae61', // 9 habitats naturels
  '#a6dba0', // 10 autres surfaces végétalisées
];

export const FLUX_COLORS = { artificialisation: '#d6604d', desartificialisation: '#4393c3', net: '#4d4d4d' } as const;

export interface Series {
  key: string;
  label: string;
  color: string;
}

interface Frame {
  id: string;
  title: string;
  desc: string;
  width: number;
  height: number;
}

const FONT = 'font-family="system-ui, sans-serif"';

function frame(f: Frame, body: string): string {
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" viewBox="0 0 ${f.width} ${f.height}" ` +
    `width="${f.width}" height="${f.height}" aria-labelledby="${esc(f.id)}-title ${esc(f.id)}-desc" ${FONT} font-size="12">` +
    `<title id="${esc(f.id)}-title">${esc(f.title)}</title><desc id="${esc(f.id)}-desc">${esc(f.desc)}</desc>${body}</svg>`
  );
}

/** Round tick values spanning [min, max] (always including 0). */
export function niceTicks(min: number, max: number, count = 5): number[] {
  const lo = Math.min(0, min);
  const hi = Math.max(0, max);
  if (hi - lo <= 0) return [0, 1];
  const raw = (hi - lo) / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = ([1, 2, 2.5, 5, 10].find((m) => m * magnitude >= raw) ?? 10) * magnitude;
  const ticks: number[] = [];
  for (let t = Math.floor(lo / step) * step; t <= hi + step * 1e-9; t += step) ticks.push(Number(t.toPrecision(12)));
  if (ticks[ticks.length - 1]! < hi) ticks.push(Number((ticks[ticks.length - 1]! + step).toPrecision(12)));
  return ticks;
}

function tickDecimals(ticks: number[]): number {
  const step = ticks.length > 1 ? Math.abs(ticks[1]! - ticks[0]!) : 1;
  let decimals = 0;
  // Enough decimals to write the step exactly (2,5 needs one), so no two ticks round to the same label.
  while (decimals < 6 && Math.abs(Math.round(step * 10 ** decimals) - step * 10 ** decimals) > 1e-6) decimals++;
  return decimals;
}

interface Axis {
  y: (v: number) => number;
  svg: string;
}

/** Horizontal grid lines and labels of a vertical value axis, plus the rotated axis title. */
function valueAxis(ticks: number[], top: number, bottom: number, left: number, right: number, label: string): Axis {
  const lo = ticks[0]!;
  const hi = ticks[ticks.length - 1]!;
  const y = (v: number): number => bottom - ((v - lo) / (hi - lo)) * (bottom - top);
  const decimals = tickDecimals(ticks);
  const lines = ticks
    .map((t) => {
      const ty = y(t).toFixed(1);
      const stroke = t === 0 ? '#333' : '#ddd';
      return `<line x1="${left}" x2="${right}" y1="${ty}" y2="${ty}" stroke="${stroke}"/><text x="${left - 6}" y="${ty}" text-anchor="end" dominant-baseline="middle" fill="#333">${esc(formatNumber(t, decimals))}</text>`;
    })
    .join('');
  const mid = ((top + bottom) / 2).toFixed(1);
  const title = `<text transform="translate(14 ${mid}) rotate(-90)" text-anchor="middle" fill="#333">${esc(label)}</text>`;
  return { y, svg: `<g class="axis">${lines}${title}</g>` };
}

/** Room for a legend column: swatch plus the longest label at ~6.8 px per character of the 12 px font. */
function legendWidth(series: readonly Series[]): number {
  return 24 + Math.ceil(Math.max(0, ...series.map((s) => s.label.length)) * 6.8);
}

function legend(series: readonly Series[], x: number, y: number, lineHeight = 16): string {
  return (
    `<g class="legend">` +
    series
      .map(
        (s, i) =>
          `<rect x="${x}" y="${y + i * lineHeight}" width="11" height="11" fill="${s.color}" stroke="#555" stroke-width="0.5"/>` +
          `<text x="${x + 16}" y="${y + i * lineHeight + 9}" fill="#222">${esc(s.label)}</text>`,
      )
      .join('') +
    `</g>`
  );
}

export interface StackedBarsInput {
  id: string;
  title: string;
  desc: string;
  /** Axis title with unit, e.g. "Surface (ha)". */
  axisLabel: string;
  series: readonly Series[];
  bars: Array<{ label: string; values: Record<string, number> }>;
}

/** Vertical stacked bars, one per bar label, segments in series order, legend on the right. */
export function stackedBars(input: StackedBarsInput): string {
  const width = 460 + legendWidth(input.series);
  const height = Math.max(300, 40 + input.series.length * 16);
  const [left, right, top, bottom] = [70, 440, 16, height - 36];
  const totals = input.bars.map((b) => input.series.reduce((sum, s) => sum + Math.max(0, b.values[s.key] ?? 0), 0));
  const axis = valueAxis(niceTicks(0, Math.max(...totals, 0)), top, bottom, left, right, input.axisLabel);
  const slot = (right - left) / Math.max(input.bars.length, 1);
  const barWidth = Math.min(70, slot * 0.6);
  const bars = input.bars
    .map((bar, i) => {
      const x = left + slot * i + (slot - barWidth) / 2;
      let acc = 0;
      const rects = input.series
        .map((s) => {
          const v = Math.max(0, bar.values[s.key] ?? 0);
          if (v === 0) return '';
          const y0 = axis.y(acc);
          acc += v;
          const y1 = axis.y(acc);
          return `<rect x="${x.toFixed(1)}" y="${y1.toFixed(1)}" width="${barWidth.toFixed(1)}" height="${Math.max(0, y0 - y1).toFixed(2)}" fill="${s.color}"><title>${esc(`${bar.label} — ${s.label} : ${formatNumber(v)}`)}</title></rect>`;
        })
        .join('');
      return `${rects}<text x="${(x + barWidth / 2).toFixed(1)}" y="${bottom + 18}" text-anchor="middle" fill="#222">${esc(bar.label)}</text>`;
    })
    .join('');
  return frame({ id: input.id, title: input.title, desc: input.desc, width, height }, axis.svg + bars + legend(input.series, right + 20, top));
}

export interface GroupedBarsInput {
  id: string;
  title: string;
  desc: string;
  axisLabel: string;
  series: readonly Series[];
  groups: Array<{ label: string; values: Record<string, number | null> }>;
}

/** Grouped vertical bars (negative values go below the zero line), legend above the plot. */
export function groupedBars(input: GroupedBarsInput): string {
  const groupCount = Math.max(input.groups.length, 1);
  const width = Math.max(560, Math.min(1100, 90 + groupCount * (input.series.length * 22 + 24)));
  const longLabels = input.groups.some((g) => g.label.length > 10);
  const height = longLabels ? 380 : 320;
  const [left, right, top, bottom] = [70, width - 16, 16 + 18, height - (longLabels ? 100 : 36)];
  const values = input.groups.flatMap((g) => input.series.map((s) => g.values[s.key] ?? 0));
  const axis = valueAxis(niceTicks(Math.min(...values, 0), Math.max(...values, 0)), top, bottom, left, right, input.axisLabel);
  const slot = (right - left) / groupCount;
  const barWidth = Math.min(36, (slot * 0.8) / input.series.length);
  const body = input.groups
    .map((group, i) => {
      const x0 = left + slot * i + (slot - barWidth * input.series.length) / 2;
      const rects = input.series
        .map((s, j) => {
          const v = group.values[s.key];
          if (v === null || v === undefined) return '';
          const y0 = axis.y(0);
          const y1 = axis.y(v);
          return `<rect x="${(x0 + j * barWidth).toFixed(1)}" y="${Math.min(y0, y1).toFixed(1)}" width="${(barWidth - 2).toFixed(1)}" height="${Math.abs(y0 - y1).toFixed(2)}" fill="${s.color}"><title>${esc(`${group.label} — ${s.label} : ${formatNumber(v)}`)}</title></rect>`;
        })
        .join('');
      const cx = (left + slot * i + slot / 2).toFixed(1);
      const label = longLabels
        ? `<text transform="translate(${cx} ${bottom + 12}) rotate(-35)" text-anchor="end" fill="#222">${esc(group.label)}</text>`
        : `<text x="${cx}" y="${bottom + 18}" text-anchor="middle" fill="#222">${esc(group.label)}</text>`;
      return rects + label;
    })
    .join('');
  const legendRow = input.series
    .map((s, i) => `<rect x="${left + i * 170}" y="4" width="11" height="11" fill="${s.color}"/><text x="${left + i * 170 + 16}" y="13" fill="#222">${esc(s.label)}</text>`)
    .join('');
  return frame({ id: input.id, title: input.title, desc: input.desc, width, height }, axis.svg + body + `<g class="legend">${legendRow}</g>`);
}

export interface TrajectoryInput {
  id: string;
  title: string;
  desc: string;
  /** Cerema consumption per year (ha), years 2011…2030 shown; empty without a Cerema file. */
  annual: Array<{ year: number; ha: number }>;
  /** Mean annual consumption of the reference decade 2011–2020 (ha/yr). */
  referencePerYearHa: number | null;
  /** Allowance 2021–2030 spread over its ten years (ha/yr). */
  allowancePerYearHa: number | null;
}

/**
 * Annual consumption (Cerema, bars) against the reference decade's mean (2011–2020, solid line) and the annual
 * allowance (2021–2030, dashed line).
 */
export function trajectoryChart(input: TrajectoryInput): string {
  const width = 780;
  const height = 320;
  const [left, right, top, bottom] = [70, 480, 16, height - 40];
  const shown = input.annual.filter((a) => a.year >= 2011 && a.year <= 2030);
  const max = Math.max(0, input.referencePerYearHa ?? 0, input.allowancePerYearHa ?? 0, ...shown.map((a) => a.ha));
  const axis = valueAxis(niceTicks(0, max), top, bottom, left, right, 'Consommation annuelle (ha)');
  const slot = (right - left) / 20;
  const x = (year: number): number => left + (year - 2011) * slot;
  const yearTicks = [2011, 2016, 2021, 2026, 2030]
    .map((yr) => `<text x="${(x(yr) + slot / 2).toFixed(1)}" y="${bottom + 18}" text-anchor="middle" fill="#222">${yr}</text>`)
    .join('');
  const xTitle = `<text x="${((left + right) / 2).toFixed(1)}" y="${height - 4}" text-anchor="middle" fill="#333">Année</text>`;
  const series: Series[] = [
    { key: 'annual', label: 'Consommation annuelle (Cerema)', color: '#fdae61' },
    { key: 'reference', label: 'Moyenne 2011–2020', color: '#4d4d4d' },
    { key: 'allowance', label: 'Enveloppe annuelle 2021–2030', color: '#1a9850' },
  ];
  const bars = shown
    .map((a) => {
      const y = axis.y(a.ha);
      return `<rect x="${(x(a.year) + 1).toFixed(1)}" y="${y.toFixed(1)}" width="${(slot - 2).toFixed(1)}" height="${(axis.y(0) - y).toFixed(2)}" fill="${series[0]!.color}"><title>${esc(`${a.year} : ${formatNumber(a.ha)} ha`)}</title></rect>`;
    })
    .join('');
  const level = (from: number, to: number, value: number | null, color: string, dash: string): string =>
    value === null
      ? ''
      : `<line x1="${x(from).toFixed(1)}" y1="${axis.y(value).toFixed(1)}" x2="${x(to + 1).toFixed(1)}" y2="${axis.y(value).toFixed(1)}" stroke="${color}" stroke-width="3"${dash ? ` stroke-dasharray="${dash}"` : ''}/>`;
  const body =
    axis.svg +
    `<line x1="${x(2021).toFixed(1)}" x2="${x(2021).toFixed(1)}" y1="${top}" y2="${bottom}" stroke="#999" stroke-dasharray="2 3"/>` +
    bars +
    yearTicks +
    xTitle +
    level(2011, 2020, input.referencePerYearHa, series[1]!.color, '') +
    level(2021, 2030, input.allowancePerYearHa, series[2]!.color, '8 5');
  return frame({ id: input.id, title: input.title, desc: input.desc, width, height }, body + legend(series, right + 16, top));
}

export interface MapFeature {
  label: string;
  /** Rings of [x, y] in Lambert-93 metres. */
  rings: number[][][];
  /** Value coloured by the class breaks (null = no data). */
  value: number | null;
  /** The portrait's own territory: drawn with a thick outline. */
  highlight: boolean;
  href?: string;
}

export interface ChoroplethInput {
  id: string;
  title: string;
  desc: string;
  features: MapFeature[];
  /** Extra rings drawn as a thick outline only (the portrait's territory over its children). */
  outline: number[][][];
  /** Ascending upper bounds of the classes; the last class is open-ended. */
  breaks: readonly number[];
  colors: readonly string[];
  classLabels: readonly string[];
}

/** Projects Lambert-93 rings into the frame (north up) and drops points closer than half a pixel. */
function projectRings(features: MapFeature[], width: number, height: number, pad: number): (rings: number[][][]) => string {
  let [minX, minY, maxX, maxY] = [Infinity, Infinity, -Infinity, -Infinity];
  for (const f of features)
    for (const ring of f.rings)
      for (const [px, py] of ring) {
        minX = Math.min(minX, px!);
        maxX = Math.max(maxX, px!);
        minY = Math.min(minY, py!);
        maxY = Math.max(maxY, py!);
      }
  const scale = Math.min((width - 2 * pad) / Math.max(maxX - minX, 1), (height - 2 * pad) / Math.max(maxY - minY, 1));
  const offX = pad + (width - 2 * pad - (maxX - minX) * scale) / 2;
  const offY = pad + (height - 2 * pad - (maxY - minY) * scale) / 2;
  return (rings) =>
    rings
      .map((ring) => {
        const points: string[] = [];
        let [lastX, lastY] = [NaN, NaN];
        for (const [px, py] of ring) {
          const sx = offX + (px! - minX) * scale;
          const sy = offY + (maxY - py!) * scale;
          if (Math.hypot(sx - lastX, sy - lastY) < 0.5) continue;
          points.push(`${sx.toFixed(1)} ${sy.toFixed(1)}`);
          [lastX, lastY] = [sx, sy];
        }
        return points.length >= 3 ? `M${points.join('L')}Z` : '';
      })
      .join('');
}

export function classIndex(value: number, breaks: readonly number[]): number {
  const i = breaks.findIndex((b) => value <= b);
  return i === -1 ? breaks.length : i;
}

/** Choropleth of the territory and its children or neighbours, highlighted outline on top. */
export function choroplethMap(input: ChoroplethInput): string {
  const [width, height, mapWidth] = [720, 440, 500];
  const outlineFeature: MapFeature = { label: '', rings: input.outline, value: null, highlight: true };
  const project = projectRings([...input.features, outlineFeature], mapWidth, height, 10);
  const fill = (f: MapFeature): string => (f.value === null ? '#eeeeee' : input.colors[classIndex(f.value, input.breaks)]!);
  const shape = (f: MapFeature, outline: boolean): string => {
    const d = project(f.rings);
    if (!d) return '';
    const path = outline
      ? `<path d="${d}" fill="none" stroke="#000" stroke-width="2.5" fill-rule="evenodd"/>`
      : `<path d="${d}" fill="${fill(f)}" stroke="#fff" stroke-width="0.6" fill-rule="evenodd"><title>${esc(f.label)}</title></path>`;
    return f.href && !outline ? `<a href="${esc(f.href)}">${path}</a>` : path;
  };
  const shapes = input.features.map((f) => shape(f, false)).join('') + [...input.features.filter((f) => f.highlight), outlineFeature].map((f) => shape(f, true)).join('');
  const series: Series[] = [
    ...input.classLabels.map((label, i) => ({ key: String(i), label, color: input.colors[i]! })),
    { key: 'none', label: 'Pas de donnée', color: '#eeeeee' },
  ];
  const legendTitle = `<text x="${mapWidth + 16}" y="22" fill="#222" font-weight="bold">Artificialisation nette</text><text x="${mapWidth + 16}" y="38" fill="#222">(% de la surface)</text>`;
  const frameRect = `<rect x="0.5" y="0.5" width="${mapWidth - 1}" height="${height - 1}" fill="none" stroke="#ccc"/>`;
  return frame({ id: input.id, title: input.title, desc: input.desc, width, height }, frameRect + shapes + legendTitle + legend(series, mapWidth + 16, 50, 18));
}
