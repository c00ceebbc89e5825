/**
 * Year tables: the real year (of the aerial photos) behind each nominal vintage label, per département or per
 * commune. Either a built-in table by name (`nomenclature/vintage-years/<name>.csv`, e.g. `ocs-grand-est`) or a
 * user's CSV with the header `departement,vintage,year` or `commune_code,vintage,year`. A table that
 * contradicts itself (the same key and vintage twice, a later vintage with an earlier year) fails at load
 * with its file and line. Two labels may share a year: the built-in table lists both labels of a vintage
 * published as 2021 or 2022.
 *
 * @example
 *   const table = loadVintageYears('ocs-grand-est');
 *   table.scope; // 'departement'
 *   table.rows.find((r) => r.key === '67' && r.vintage === 2010)?.year; // 2007
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { UserError } from '../pipeline/core/errors.js';
import { DEFAULT_NOMENCLATURE_DIR } from './loader.js';
import { readCsvTable, readUserCsv, tableError, type CsvRows } from './table-files.js';

export type VintageYearScope = 'departement' | 'commune';

export interface VintageYearRow {
  /** Département code (`67`, `2A`, `971`) or commune INSEE code (`67482`), by the table's scope. */
  key: string;
  /** Nominal vintage label, as in `--vintage 2010=…` and the `vintage` columns. */
  vintage: number;
  /** Real year of the data behind that label. */
  year: number;
  line: number;
}

export interface VintageYearTable {
  /** The spec as given: a built-in name or a path. */
  name: string;
  file: string;
  sha256: string;
  /** A built-in table's `# version:`; null for a user's file. */
  version: string | null;
  scope: VintageYearScope;
  rows: readonly VintageYearRow[];
}

const KEY_COLUMNS: Record<string, VintageYearScope> = { departement: 'departement', commune_code: 'commune' };
const KEY_FORMS: Record<VintageYearScope, { pattern: RegExp; width: number; what: string }> = {
  departement: { pattern: /^(\d{1,3}|2[AB])$/, width: 2, what: 'a département code such as 67, 2A or 971' },
  commune: { pattern: /^(\d{4,5}|2[AB]\d{3})$/, width: 5, what: 'a commune INSEE code such as 67482 or 2A004' },
};

export const vintageYearsDir = (nomenclatureDir: string = DEFAULT_NOMENCLATURE_DIR): string => path.join(nomenclatureDir, 'vintage-years');

export function listVintageYearTables(nomenclatureDir: string = DEFAULT_NOMENCLATURE_DIR): string[] {
  return readdirSync(vintageYearsDir(nomenclatureDir))
    .filter((name) => name.endsWith('.csv'))
    .map((name) => name.slice(0, -4))
    .sort();
}

/** A spec naming a file (a folder in it, or a .csv name) rather than a built-in table. */
export const isVintageYearsPath = (spec: string): boolean => spec.includes('/') || spec.includes(path.sep) || /\.csv$/i.test(spec);

/** Reads and checks a year table: a built-in name, or a path to a CSV. */
export function loadVintageYears(spec: string, nomenclatureDir: string = DEFAULT_NOMENCLATURE_DIR): VintageYearTable {
  const isPath = isVintageYearsPath(spec);
  const file = path.resolve(isPath ? spec : path.join(vintageYearsDir(nomenclatureDir), `${spec}.csv`));
  if (!existsSync(file)) {
    throw new UserError(isPath ? 'vintage-years table not found' : `unknown vintage-years table "${spec}"`, {
      file: isPath ? file : undefined,
      remedy: `use ${listVintageYearTables(nomenclatureDir).join(', ')} or a CSV departement,vintage,year or commune_code,vintage,year`,
    });
  }
  const csv: CsvRows & { version?: string } = isPath ? readUserCsv(file) : readCsvTable(file);
  const { scope, rows } = parseRows(csv);
  checkConsistency(file, scope, rows);
  return { name: spec, file, sha256: createHash('sha256').update(readFileSync(file)).digest('hex'), version: csv.version ?? null, scope, rows };
}

const plain = (name: string): string => name.normalize('NFD').replace(/\p{M}/gu, '').toLowerCase();

function parseRows(csv: CsvRows): { scope: VintageYearScope; rows: VintageYearRow[] } {
  const header = csv.header.map(plain);
  const keyColumns = header.filter((name) => name in KEY_COLUMNS);
  if (header.length !== 3 || keyColumns.length !== 1 || !header.includes('vintage') || !header.includes('year')) {
    tableError(csv.file, csv.headerLine, `header must be "departement,vintage,year" or "commune_code,vintage,year", found "${csv.header.join(',')}"`);
  }
  const scope = KEY_COLUMNS[keyColumns[0]!]!;
  const form = KEY_FORMS[scope];
  const [keyName, vintageName, yearName] = [keyColumns[0]!, 'vintage', 'year'].map((name) => csv.header[header.indexOf(name)]!);
  const rows = csv.rows.map(({ line, cells }) => {
    const key = cells[keyName]!.toUpperCase();
    if (!form.pattern.test(key)) tableError(csv.file, line, `"${cells[keyName]}" is not ${form.what}`);
    const [vintage, year] = [vintageName, yearName].map((name) => {
      const value = cells[name]!;
      if (!/^\d{4}$/.test(value)) tableError(csv.file, line, `${name} "${value}" is not a four-digit year`);
      return Number(value);
    }) as [number, number];
    // Spreadsheets drop leading zeros: 8 is département 08, 8105 commune 08105.
    return { key: /^\d+$/.test(key) ? key.padStart(form.width, '0') : key, vintage, year, line };
  });
  if (rows.length === 0) tableError(csv.file, undefined, 'no rows under the header');
  return { scope, rows };
}

/** The same key and vintage twice, or a later vintage with an earlier year, is an error naming the later line. */
function checkConsistency(file: string, scope: VintageYearScope, rows: readonly VintageYearRow[]): void {
  const what = scope === 'departement' ? 'département' : 'commune';
  const byKey = new Map<string, VintageYearRow[]>();
  for (const row of rows) byKey.set(row.key, [...(byKey.get(row.key) ?? []), row]);
  for (const [key, list] of byKey) {
    const sorted = [...list].sort((a, b) => a.vintage - b.vintage || a.line - b.line);
    for (let i = 1; i < sorted.length; i++) {
      const [before, after] = [sorted[i - 1]!, sorted[i]!];
      const [first, second] = before.line < after.line ? [before, after] : [after, before];
      if (before.vintage === after.vintage) {
        tableError(file, second.line, `${what} ${key}, vintage ${after.vintage} is given twice (also line ${first.line})`, 'keep one row per key and vintage');
      }
      if (after.year < before.year) {
        tableError(
          file,
          second.line,
          `${what} ${key}: vintage ${after.vintage} has year ${after.year}, earlier than year ${before.year} of vintage ${before.vintage} (line ${first.line})`,
          'a later vintage cannot rest on earlier data: fix the years',
        );
      }
    }
  }
}
