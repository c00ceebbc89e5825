import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { UserError } from '../pipeline/core/errors.js';
import { loadVintageYears } from '../nomenclature/vintage-years.js';
import { tempDir } from './ingest-helpers.js';

/** Year tables (`--vintage-years`): the built-in Grand Est table, users' CSVs, and the errors naming a line. */

const dir = tempDir('ocs-zan-years-');
const csv = (name: string, text: string): string => {
  const file = path.join(dir, name);
  writeFileSync(file, text);
  return file;
};
const lineOf = (work: () => unknown): string => {
  try {
    work();
  } catch (error) {
    if (error instanceof UserError) return error.line();
    throw error;
  }
  throw new Error('no error');
};

describe('loadVintageYears', () => {
  it('reads the built-in OCS Grand Est table of FORMATS.md §5', () => {
    const table = loadVintageYears('ocs-grand-est');
    expect(table.scope).toBe('departement');
    expect(table.version).toMatch(/likely/);
    const year = (dep: string, vintage: number): number | undefined => table.rows.find((r) => r.key === dep && r.vintage === vintage)?.year;
    expect([year('67', 2010), year('67', 2019), year('67', 2021), year('67', 2022)]).toEqual([2007, 2018, 2021, 2021]);
    expect([year('51', 2010), year('51', 2019), year('51', 2022)]).toEqual([2008, 2019, 2022]);
    expect([year('10', 2010), year('55', 2010), year('88', 2022), year('08', 2021)]).toEqual([2009, 2007, 2021, 2022]);
    expect(new Set(table.rows.map((r) => r.key))).toEqual(new Set(['08', '10', '51', '52', '54', '55', '57', '67', '68', '88']));
  });

  it('reads a per-commune CSV, with ; as delimiter and leading zeros restored', () => {
    const table = loadVintageYears(csv('communes.csv', 'commune_code;vintage;year\n8105;2010;2009\n67001;2019;2018\n'));
    expect(table.scope).toBe('commune');
    expect(table.version).toBeNull();
    expect(table.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(table.rows.map((r) => [r.key, r.vintage, r.year, r.line])).toEqual([['08105', 2010, 2009, 2], ['67001', 2019, 2018, 3]]);
  });

  it('accepts two labels sharing a year', () => {
    expect(loadVintageYears(csv('alias.csv', 'departement,vintage,year\n67,2021,2021\n67,2022,2021\n')).rows).toHaveLength(2);
  });

  it('names the line of a key given twice', () => {
    const file = csv('twice.csv', '# photos\ndepartement,vintage,year\n67,2010,2007\n68,2010,2007\n67,2010,2008\n');
    expect(lineOf(() => loadVintageYears(file))).toBe(`${file}:5: département 67, vintage 2010 is given twice (also line 3) (keep one row per key and vintage)`);
  });

  it('names the line of a later vintage with an earlier year', () => {
    const file = csv('backwards.csv', 'commune_code,vintage,year\n67001,2019,2006\n67001,2010,2007\n');
    expect(lineOf(() => loadVintageYears(file))).toBe(
      `${file}:3: commune 67001: vintage 2019 has year 2006, earlier than year 2007 of vintage 2010 (line 2) (a later vintage cannot rest on earlier data: fix the years)`,
    );
  });

  it('refuses a wrong header, a bad code or year, an unknown table', () => {
    expect(lineOf(() => loadVintageYears(csv('header.csv', 'dep,vintage,year\n67,2010,2007\n')))).toMatch(/header\.csv:1: header must be "departement,vintage,year" or "commune_code,vintage,year"/);
    expect(lineOf(() => loadVintageYears(csv('code.csv', 'departement,vintage,year\nBas-Rhin,2010,2007\n')))).toMatch(/code\.csv:2: "Bas-Rhin" is not a département code/);
    expect(lineOf(() => loadVintageYears(csv('year.csv', 'departement,vintage,year\n67,2010,07\n')))).toMatch(/year\.csv:2: year "07" is not a four-digit year/);
    expect(lineOf(() => loadVintageYears('ocs-nowhere'))).toMatch(/unknown vintage-years table "ocs-nowhere" \(use ocs-grand-est or a CSV/);
    expect(lineOf(() => loadVintageYears(path.join(dir, 'missing.csv')))).toMatch(/missing\.csv: vintage-years table not found/);
  });
});
