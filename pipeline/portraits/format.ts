/**
 * French number formatting and HTML/XML escaping shared by the portrait renderers and their tests.
 * Thousands are separated by U+202F (narrow no-break space), decimals by a comma, and units follow a
 * U+202F too, so a figure never wraps across lines. Formatting is done by hand (not Intl) so the
 * output is identical whatever the ICU build.
 *
 * @example formatHa(12_345_678) === '1\u202F234,57\u202Fha'
 */

export const NNBSP = '\u202F';

/** `value` with `decimals` decimals, French separators; '—' for null or NaN. */
export function formatNumber(value: number | null | undefined, decimals = 2): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return '—';
  const fixed = Math.abs(value).toFixed(decimals);
  const [whole, fraction] = fixed.split('.');
  const grouped = whole!.replace(/\B(?=(\d{3})+(?!\d))/g, NNBSP);
  // -0,00 reads as a sign error: only show the minus when the rounded value is not zero.
  const negative = value < 0 && Number(fixed) !== 0;
  return `${negative ? '−' : ''}${grouped}${fraction !== undefined ? `,${fraction}` : ''}`;
}

/** Square metres shown as hectares. */
export function formatHa(m2: number | null | undefined): string {
  return m2 === null || m2 === undefined ? '—' : `${formatNumber(m2 / 10_000)}${NNBSP}ha`;
}

/** Square metres per year shown as hectares per year. */
export function formatHaPerYear(m2: number | null | undefined): string {
  return m2 === null || m2 === undefined ? '—' : `${formatNumber(m2 / 10_000)}${NNBSP}ha/an`;
}

/** A share in 0..1 shown as a percentage. */
export function formatShare(share: number | null | undefined): string {
  return share === null || share === undefined ? '—' : `${formatNumber(share * 100)}${NNBSP}%`;
}

export function formatInteger(value: number | null | undefined): string {
  return formatNumber(value, 0);
}

export type FigureKind = 'ha' | 'ha_per_year' | 'hectares' | 'hectares_per_year' | 'share' | 'integer' | 'years' | 'boolean';

/** How a DB column is displayed, from its name (one rule, used by the renderers and the tests). */
export function figureKind(column: string): FigureKind {
  if (/_m2_per_year$/.test(column)) return 'ha_per_year';
  if (/_ha_per_year/.test(column)) return 'hectares_per_year';
  if (/(_m2|^sum\(area_m2\))$/.test(column)) return 'ha';
  if (/_ha(_|$)/.test(column)) return 'hectares';
  if (/share/.test(column) || column === 'reduction_target') return 'share';
  if (column === 'years') return 'years';
  if (column === 'guarantee_applied' || column === 'rule_mix') return 'boolean';
  return 'integer';
}

export function formatFigure(kind: FigureKind, value: number | boolean | null | undefined): string {
  if (value === null || value === undefined) return '—';
  if (typeof value === 'boolean') return value ? 'oui' : 'non';
  switch (kind) {
    case 'ha':
      return formatHa(value);
    case 'ha_per_year':
      return formatHaPerYear(value);
    case 'hectares':
      return formatHa(value * 10_000);
    case 'hectares_per_year':
      return formatHaPerYear(value * 10_000);
    case 'share':
      return formatShare(value);
    case 'years':
      return `${formatNumber(value, 1)}${NNBSP}ans`;
    case 'boolean':
      return value ? 'oui' : 'non';
    case 'integer':
      return formatInteger(value);
  }
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Escapes text for HTML/XML content and attribute values. */
export function esc(text: string | number): string {
  return String(text).replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}
