/**
 * Cerema stage: reads the Cerema commune file of NAF consumption from the land-tax files
 * (`obs_artif_conso_com_2009_<last>`, ../shared/reference/FORMATS.md §1) as published: CSV delimited by
 * `;` or `,` (decimal commas and `NULL` tolerated) or the zipped shapefile, column names in any case,
 * with or without the `rou`/`fer` destinations of older releases. Only the annual columns are read
 * (`nafYYartZZ` and `artYY<dest>ZZ` with ZZ = YY + 1: the flux of year 20YY); the 2009 → last
 * cumulatives (`naf09artLL`, old naming `nafart09LL`) are not needed.
 *
 * `readCeremaFile` checks and parses the file (before any heavy work); `ceremaForTerritories` keeps the
 * territory communes and reports coverage both ways.
 *
 * @example
 * const file = readCeremaFile('obs_artif_conso_com_2009_2023.csv');
 * const { rows, report } = ceremaForTerritories(file, ['67001', '67002']);
 */
import { UserError } from '../core/errors.js';
import { readTableSource } from '../core/table-source.js';

export const CEREMA_DESTINATIONS = ['total', 'activite', 'habitat', 'mixte', 'route', 'ferroviaire', 'inconnu'] as const;
export type CeremaDestination = (typeof CEREMA_DESTINATIONS)[number];

const DESTINATION_CODES: Record<string, CeremaDestination> = {
  act: 'activite',
  hab: 'habitat',
  mix: 'mixte',
  rou: 'route',
  fer: 'ferroviaire',
  inc: 'inconnu',
};

/** m² consumed by one commune in one year (1 Jan → 1 Jan) for one destination (`total` = all). */
export interface CeremaRow {
  commune_code: string;
  year: number;
  destination: CeremaDestination;
  area_m2: number;
}

export interface CeremaFile {
  file: string;
  /** First and last year of the annual columns. */
  years: [number, number];
  /** Destinations the file has columns for, `total` first. */
  destinations: CeremaDestination[];
  rows: CeremaRow[];
  /** Commune codes of the file, sorted. */
  communes: string[];
  /** Empty or `NULL` cells (no value: no row). */
  missingValues: number;
  /** Commune-years whose destinations (all present) differ from the total by more than 1 m². */
  destinationMismatches: { count: number; examples: string[] };
}

export interface CeremaReport {
  file: string;
  years: [number, number];
  destinations: CeremaDestination[];
  communes_in_file: number;
  /** Territory communes the file does not have (their consumption is unknown, not zero). */
  missing_communes: { count: number; examples: string[] };
  /** File communes outside the territories (ignored). */
  outside_communes: { count: number; examples: string[] };
  missing_values: number;
  destination_mismatches: { count: number; examples: string[] };
}

const EXAMPLES = 10;

interface Column {
  name: string;
  year: number;
  destination: CeremaDestination;
}

/** The annual columns of a header (lower-cased names); cumulatives and other columns are left out. */
function annualColumns(columns: readonly string[]): Column[] {
  const found: Column[] = [];
  for (const name of columns) {
    const total = /^naf(\d\d)art(\d\d)$/.exec(name);
    const detail = /^art(\d\d)(act|hab|mix|rou|fer|inc)(\d\d)$/.exec(name);
    const [from, to, destination] = total
      ? [total[1]!, total[2]!, 'total' as const]
      : detail
        ? [detail[1]!, detail[3]!, DESTINATION_CODES[detail[2]!]!]
        : [null, null, null];
    if (from === null || Number(to) !== Number(from) + 1) continue;
    found.push({ name, year: 2000 + Number(from), destination });
  }
  return found;
}

/** A cell as m²: numbers as they are, text with a decimal comma or point; null when empty or NULL. */
function parseArea(value: string | number | null): number | null | 'invalid' {
  if (value === null) return null;
  if (typeof value === 'number') return Number.isFinite(value) ? value : 'invalid';
  const text = value.trim();
  if (text === '' || text.toUpperCase() === 'NULL') return null;
  if (!/^-?\d+([.,]\d+)?$/.test(text)) return 'invalid';
  return Number(text.replace(',', '.'));
}

/** INSEE code as 5 characters: shapefiles typed as numbers lose the leading zero of 01…09. */
function communeCode(value: string | number | null): string {
  const text = value === null ? '' : String(value).trim().toUpperCase();
  return /^\d{4}$/.test(text) ? `0${text}` : text;
}

export function readCeremaFile(file: string): CeremaFile {
  const table = readTableSource(file, 'Cerema file');
  const remedy = 'pass the Cerema commune file obs_artif_conso_com_2009_<last> (CSV or zipped shapefile)';
  if (!table.columns.includes('idcom')) {
    throw new UserError(`Cerema file has no idcom column (columns: ${table.columns.slice(0, 8).join(', ')}${table.columns.length > 8 ? '…' : ''})`, { file, remedy });
  }
  const columns = annualColumns(table.columns);
  const totals = columns.filter((c) => c.destination === 'total');
  if (totals.length === 0) throw new UserError('Cerema file has no annual nafYYartZZ column (e.g. naf11art12)', { file, remedy });
  const years = totals.map((c) => c.year).sort((a, b) => a - b);
  const destinations = CEREMA_DESTINATIONS.filter((d) => columns.some((c) => c.destination === d));
  const details = destinations.filter((d) => d !== 'total');

  const rows: CeremaRow[] = [];
  const seen = new Map<string, string>();
  let missingValues = 0;
  const mismatches = { count: 0, examples: [] as string[] };
  for (const row of table.rows) {
    const code = communeCode(row.cells['idcom'] ?? null);
    if (!/^[0-9][0-9AB]\d{3}$/.test(code)) {
      throw new UserError(`idcom "${String(row.cells['idcom'] ?? '')}" is not an INSEE commune code`, { file, feature: row.where, remedy: 'idcom holds 5-character codes such as 67482 or 2A004' });
    }
    if (seen.has(code)) throw new UserError(`commune ${code} appears twice (first at ${seen.get(code)})`, { file, feature: row.where });
    seen.set(code, row.where);
    const byYear = new Map<number, Map<CeremaDestination, number>>();
    for (const column of columns) {
      const area = parseArea(row.cells[column.name] ?? null);
      if (area === 'invalid') {
        throw new UserError(`${column.name} = "${String(row.cells[column.name])}" is not a number of m²`, { file, feature: row.where, remedy: 'values are m², with a decimal point or comma, or NULL' });
      }
      if (area === null) {
        missingValues++;
        continue;
      }
      rows.push({ commune_code: code, year: column.year, destination: column.destination, area_m2: area });
      const values = byYear.get(column.year) ?? new Map<CeremaDestination, number>();
      values.set(column.destination, area);
      byYear.set(column.year, values);
    }
    for (const [year, values] of byYear) {
      const total = values.get('total');
      if (total === undefined || details.length === 0 || details.some((d) => !values.has(d))) continue;
      const sum = details.reduce((s, d) => s + values.get(d)!, 0);
      if (Math.abs(sum - total) > 1) {
        mismatches.count++;
        if (mismatches.examples.length < EXAMPLES) mismatches.examples.push(`${code} ${year}: ${sum} vs ${total}`);
      }
    }
  }
  const order = new Map(CEREMA_DESTINATIONS.map((d, i) => [d, i]));
  rows.sort((a, b) => (a.commune_code < b.commune_code ? -1 : a.commune_code > b.commune_code ? 1 : a.year - b.year || order.get(a.destination)! - order.get(b.destination)!));
  return {
    file,
    years: [years[0]!, years[years.length - 1]!],
    destinations,
    rows,
    communes: [...seen.keys()].sort(),
    missingValues,
    destinationMismatches: mismatches,
  };
}

/** The rows of the territory communes, and what is missing on either side. */
export function ceremaForTerritories(cerema: CeremaFile, communeCodes: readonly string[]): { rows: CeremaRow[]; report: CeremaReport } {
  const territory = new Set(communeCodes);
  const inFile = new Set(cerema.communes);
  const missing = [...territory].filter((code) => !inFile.has(code)).sort();
  const outside = cerema.communes.filter((code) => !territory.has(code));
  return {
    rows: cerema.rows.filter((row) => territory.has(row.commune_code)),
    report: {
      file: cerema.file,
      years: cerema.years,
      destinations: cerema.destinations,
      communes_in_file: cerema.communes.length,
      missing_communes: { count: missing.length, examples: missing.slice(0, EXAMPLES) },
      outside_communes: { count: outside.length, examples: outside.slice(0, EXAMPLES) },
      missing_values: cerema.missingValues,
      destination_mismatches: cerema.destinationMismatches,
    },
  };
}

/** Warning lines for the run log (nothing when the file covers the territories exactly). */
export function ceremaReportLines(report: CeremaReport): string[] {
  const lines: string[] = [];
  const list = (part: { count: number; examples: string[] }): string => `${part.examples.join(', ')}${part.count > part.examples.length ? '…' : ''}`;
  if (report.missing_communes.count > 0) {
    lines.push(`cerema: ${report.missing_communes.count} territory communes are not in the file (no Cerema consumption for them): ${list(report.missing_communes)}`);
  }
  if (report.outside_communes.count > 0) {
    lines.push(`cerema: ${report.outside_communes.count} communes of the file are outside the territories (ignored): ${list(report.outside_communes)}`);
  }
  if (report.destination_mismatches.count > 0) {
    lines.push(`cerema: ${report.destination_mismatches.count} commune-years whose destinations do not add up to the total: ${list(report.destination_mismatches)}`);
  }
  if (report.missing_values > 0) lines.push(`cerema: ${report.missing_values} empty or NULL values (no consumption recorded for those years)`);
  return lines;
}
