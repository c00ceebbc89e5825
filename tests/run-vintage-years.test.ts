import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../cli/registry.js';
import { query } from './helpers/db.js';
import { handBuiltInputs, round } from './helpers/hand-built.js';
import { capture, tempDir } from './ingest-helpers.js';

/**
 * `ocs-zan run --vintage-years` on the hand-built squares of tests/run.test.ts (nominal vintages 2010, 2019, 2022):
 * exact `years`, annual rates, years_combined and trajectory with the built-in Grand Est table, a per-département
 * table (with a label used as a year) and a per-commune table; a contradictory table is exit 2 naming its line.
 * Without the option the labels are the years: tests/run.test.ts checks that output.
 */

const layers = (ocs: string): string[] => ['--vintage', `2010=${ocs}#ocs_2010`, '--vintage', `2019=${ocs}#ocs_2019`, '--vintage', `2022=${ocs}#ocs_2022`];
const common = (communes: string, out: string): string[] => ['--territories', `${communes}#communes`, '--out', out, '--no-tiles', '--jobs', '1', '--quiet'];

/** level, code, labels, years, artificialisation, artificialisation per year, years_combined of artif_flux. */
async function flux(db: string, levels: string): Promise<unknown[][]> {
  const rows = await query(
    db,
    `SELECT level, code, from_vintage, to_vintage, years, artificialisation_m2, artificialisation_m2_per_year, net_m2_per_year, years_combined
     FROM artif_flux WHERE level IN (${levels}) ORDER BY level, code, to_rank - from_rank, from_rank`,
  );
  return rows.map((r) => [r.level, r.code, `${r.from_vintage}→${r.to_vintage}`, Number(r.years), round(r.artificialisation_m2), round(r.artificialisation_m2_per_year), round(r.net_m2_per_year), r.years_combined]);
}

/**
 * `ocs-zan run` on the squares of the communes given, one layer per vintage, with the options `extra` returns (it may
 * write files in dir, and replace the inputs: `vintages` are the per-vintage layers, `multi` the multi-date layer).
 */
async function runOnSquares(codes: [string, string] | undefined, extra: (dir: string, inputs: { vintages: string[]; ocs: string; multi: string }) => string[]) {
  const dir = tempDir('ocs-zan-years-');
  const { ocs, multi, communes } = handBuiltInputs(dir, codes);
  const out = path.join(dir, 'out');
  const { io, out: stdout, err } = capture();
  const code = await runCli(['run', ...extra(dir, { vintages: layers(ocs), ocs, multi }), ...common(communes, out)], io);
  return { dir, out, db: path.join(out, 'ocs.duckdb'), code, stdout, err };
}

const writeIn = (dir: string, name: string, text: string): string => {
  const file = path.join(dir, name);
  writeFileSync(file, text);
  return file;
};

const metadata = async (db: string, key: string): Promise<unknown> => JSON.parse(String((await query(db, `SELECT value FROM run_metadata WHERE key = '${key}'`))[0]!.value));

describe('--vintage-years ocs-grand-est (config key vintage_years): Aube 10002 west, Bas-Rhin 67001 east', async () => {
  const { out, db, code, err } = await runOnSquares(['10002', '67001'], (dir, { vintages }) => [...vintages, '--config', writeIn(dir, 'run.yml', 'vintage_years: ocs-grand-est\n')]);

  it('runs', () => {
    expect(err()).toBe('');
    expect(code).toBe(0);
  });

  it('keeps the labels and measures each commune on its département’s photo years (Aube 2009/2019/2022, Bas-Rhin 2007/2018/2021)', async () => {
    expect(await flux(db, `'commune', 'region'`)).toEqual([
      ['commune', '10002', '2010→2019', 10, 10_000, 1_000, 1_000, '2010→2019 = 2009→2019 (10)'],
      ['commune', '10002', '2019→2022', 3, 0, 0, -3_333.333, '2019→2022 (10)'],
      ['commune', '10002', '2010→2022', 13, 0, 0, 0, '2010→2022 = 2009→2022 (10)'],
      ['commune', '67001', '2010→2019', 11, 10_000, 909.091, 909.091, '2010→2019 = 2007→2018 (67)'],
      ['commune', '67001', '2019→2022', 3, 0, 0, 0, '2019→2022 = 2018→2021 (67)'],
      ['commune', '67001', '2010→2022', 14, 10_000, 714.286, 714.286, '2010→2022 = 2007→2021 (67)'],
      // Equal areas: years is the mean length; rates are the sums of the commune rates.
      ['region', '44', '2010→2019', 10.5, 20_000, 1_909.091, 1_909.091, '2010→2019 = 2007→2018 (67); 2010→2019 = 2009→2019 (10)'],
      ['region', '44', '2019→2022', 3, 0, 0, -3_333.333, '2019→2022 = 2018→2021 (67); 2019→2022 (10)'],
      ['region', '44', '2010→2022', 13.5, 10_000, 714.286, 714.286, '2010→2022 = 2007→2021 (67); 2010→2022 = 2009→2022 (10)'],
    ]);
    const stock = await query(db, `SELECT vintage, years_combined FROM stock_summary WHERE level = 'region' ORDER BY vintage_rank`);
    expect(stock.map((r) => [r.vintage, r.years_combined])).toEqual([
      [2010, '2010 = 2007 (67); 2010 = 2009 (10)'],
      [2019, '2019 = 2018 (67); 2019 (10)'],
      [2022, '2022 = 2021 (67); 2022 (10)'],
    ]);
    const enaf = await query(db, `SELECT years, consumption_m2_per_year FROM enaf_summary WHERE level = 'commune' AND code = '67001' AND from_rank = 1 AND to_rank = 2`);
    expect(enaf.map((r) => [Number(r.years), round(r.consumption_m2_per_year)])).toEqual([[11, 909.091]]);
  });

  it('takes the trajectory reference on the real years', async () => {
    const rows = await query(db, `SELECT code, reference_basis, reference_2011_2020_m2, allowance_2021_2030_m2 FROM trajectory WHERE level IN ('commune', 'region') ORDER BY level, code`);
    // 2009→2019 overlaps 2011–2020 by 8 of 10 years; 2007→2018 by 7 of 11 (4 outside, under half): both count.
    expect(rows.map((r) => [r.code, r.reference_basis, round(r.reference_2011_2020_m2), round(r.allowance_2021_2030_m2)])).toEqual([
      ['10002', 'OCS 2010→2019 = 2009→2019 (10) × 10 / period length (estimated)', 10_000, 5_000],
      ['67001', 'OCS 2010→2019 = 2007→2018 (67) × 10 / period length (estimated)', 9_090.909, 4_545.455],
      ['44', 'OCS 2010→2019 = 2007→2018 (67); OCS 2010→2019 = 2009→2019 (10) × 10 / period length (estimated)', 19_090.909, 9_545.455],
    ]);
  });

  it('writes vintage_year and records the table in run_metadata', async () => {
    const rows = await query(db, `SELECT commune_code, vintage, year, source FROM vintage_year ORDER BY ALL`);
    expect(rows.map((r) => [r.commune_code, r.vintage, r.year, r.source])).toEqual([
      ['10002', 2010, 2009, 'departement'],
      ['10002', 2019, 2019, 'departement'],
      ['10002', 2022, 2022, 'departement'],
      ['67001', 2010, 2007, 'departement'],
      ['67001', 2019, 2018, 'departement'],
      ['67001', 2022, 2021, 'departement'],
    ]);
    expect(await metadata(db, 'vintage_years')).toEqual({ table: 'ocs-grand-est', version: '2024-02-likely', sha256: expect.stringMatching(/^[0-9a-f]{64}$/), scope: 'departement', rows: 40 });
    expect(await metadata(db, 'vintage_years.fallbacks')).toEqual([]);
    expect(existsSync(path.join(out, 'parquet', 'vintage_year.parquet'))).toBe(true);
  });

  it('gives the same tables from a multi-date layer and from per-département inputs', async () => {
    const perDep = (ocs: string): string[] => ['10', '67'].flatMap((dep) => [2010, 2019, 2022].flatMap((year) => ['--vintage', `${dep}:${year}=${ocs}#ocs_${year}`]));
    const forms: Array<[string, (inputs: { ocs: string; multi: string }) => string[]]> = [
      ['multi-date', ({ multi }) => ['--multi-date', `${multi}#ocs_multi`]],
      ['per-département', ({ ocs }) => perDep(ocs)],
    ];
    for (const [name, inputs] of forms) {
      const other = await runOnSquares(['10002', '67001'], (_, given) => [...inputs(given), '--vintage-years', 'ocs-grand-est', '--no-portraits']);
      expect(other.err()).toBe('');
      for (const table of ['vintage_year', 'stock_summary', 'artif_flux', 'enaf_summary', 'imperm_flux', 'trajectory']) {
        const file = (dir: string): Buffer => readFileSync(path.join(dir, 'parquet', `${table}.parquet`));
        expect(file(other.out).equals(file(out)), `${name}: ${table}`).toBe(true);
      }
    }
  });

  it('shows the photo years beside the labels in the portraits', () => {
    const commune = readFileSync(path.join(out, 'portraits', 'md', 'commune-67001.md'), 'utf8');
    expect(commune).toContain('2010 (photos 2007), 2019 (photos 2018), 2022 (photos 2021)');
    expect(commune).toContain('2010 → 2019 (photos 2007 → 2018)');
    const region = readFileSync(path.join(out, 'portraits', 'md', 'region-44.md'), 'utf8');
    expect(region).toContain('2010 (photos 2007, 2009), 2019 (photos 2018, 2019), 2022 (photos 2021, 2022)');
    expect(region).toContain('2010 → 2019 (photos 2007, 2009 → 2018, 2019)');
  });
});

describe('--vintage-years with a per-département CSV missing a year', async () => {
  const years = 'departement,vintage,year\n67,2010,2006\n67,2019,2019\n67,2022,2021\n10,2010,2009\n10,2019,2019\n';
  const { dir, out, db, code, err } = await runOnSquares(['10002', '67001'], (d, { vintages }) => [...vintages, '--vintage-years', writeIn(d, 'years.csv', years), '--no-portraits']);
  const table = path.join(dir, 'years.csv');

  it('runs', () => {
    expect(err()).toBe('');
    expect(code).toBe(0);
  });

  it('uses the table’s years, and the label where the table has none', async () => {
    expect(await flux(db, `'commune', 'region'`)).toEqual([
      ['commune', '10002', '2010→2019', 10, 10_000, 1_000, 1_000, '2010→2019 = 2009→2019 (10)'],
      ['commune', '10002', '2019→2022', 3, 0, 0, -3_333.333, '2019→2022 (10)'],
      ['commune', '10002', '2010→2022', 13, 0, 0, 0, '2010→2022 = 2009→2022 (10)'],
      ['commune', '67001', '2010→2019', 13, 10_000, 769.231, 769.231, '2010→2019 = 2006→2019 (67)'],
      ['commune', '67001', '2019→2022', 2, 0, 0, 0, '2019→2022 = 2019→2021 (67)'],
      ['commune', '67001', '2010→2022', 15, 10_000, 666.667, 666.667, '2010→2022 = 2006→2021 (67)'],
      ['region', '44', '2010→2019', 11.5, 20_000, 1_769.231, 1_769.231, '2010→2019 = 2006→2019 (67); 2010→2019 = 2009→2019 (10)'],
      ['region', '44', '2019→2022', 2.5, 0, 0, -3_333.333, '2019→2022 = 2019→2021 (67); 2019→2022 (10)'],
      ['region', '44', '2010→2022', 14, 10_000, 666.667, 666.667, '2010→2022 = 2006→2021 (67); 2010→2022 = 2009→2022 (10)'],
    ]);
  });

  it('counts the label used as a year in the summary and run_metadata', async () => {
    const line = 'vintage 2022: no year in the table for 1 commune of département 10 (10002); the label 2022 is used as its year';
    // --quiet keeps the printed summary back; run-summary.json is the same summary, written with the outputs.
    const summary = JSON.parse(readFileSync(path.join(out, 'run-summary.json'), 'utf8')) as { vintageYears: unknown };
    expect(summary.vintageYears).toEqual({ table, fallbacks: [line] });
    expect(await metadata(db, 'vintage_years.fallbacks')).toEqual([line]);
    const rows = await query(db, `SELECT year, source FROM vintage_year WHERE commune_code = '10002' AND vintage = 2022`);
    expect(rows).toEqual([{ year: 2022, source: 'label' }]);
  });
});

describe('--vintage-years with a per-commune CSV', async () => {
  const years = 'commune_code,vintage,year\n67001,2010,2008\n67001,2019,2018\n67001,2022,2021\n67002,2010,2011\n67002,2019,2019\n67002,2022,2022\n';
  const { dir, db, code, err } = await runOnSquares(undefined, (d, { vintages }) => [...vintages, '--vintage-years', writeIn(d, 'communes.csv', years), '--no-portraits']);
  const table = path.join(dir, 'communes.csv');

  it('runs', () => {
    expect(err()).toBe('');
    expect(code).toBe(0);
  });

  it('gives each commune its own years and sums their annual rates', async () => {
    expect(await flux(db, `'commune', 'departement'`)).toEqual([
      ['commune', '67001', '2010→2019', 10, 10_000, 1_000, 1_000, '2010→2019 = 2008→2018 (67)'],
      ['commune', '67001', '2019→2022', 3, 0, 0, -3_333.333, '2019→2022 = 2018→2021 (67)'],
      ['commune', '67001', '2010→2022', 13, 0, 0, 0, '2010→2022 = 2008→2021 (67)'],
      ['commune', '67002', '2010→2019', 8, 10_000, 1_250, 1_250, '2010→2019 = 2011→2019 (67)'],
      ['commune', '67002', '2019→2022', 3, 0, 0, 0, '2019→2022 (67)'],
      ['commune', '67002', '2010→2022', 11, 10_000, 909.091, 909.091, '2010→2022 = 2011→2022 (67)'],
      ['departement', '67', '2010→2019', 9, 20_000, 2_250, 2_250, '2010→2019 = 2008→2018 (67); 2010→2019 = 2011→2019 (67)'],
      ['departement', '67', '2019→2022', 3, 0, 0, -3_333.333, '2019→2022 = 2018→2021 (67); 2019→2022 (67)'],
      ['departement', '67', '2010→2022', 12, 10_000, 909.091, 909.091, '2010→2022 = 2008→2021 (67); 2010→2022 = 2011→2022 (67)'],
    ]);
    const trajectory = await query(db, `SELECT code, reference_2011_2020_m2 FROM trajectory WHERE level IN ('commune', 'departement') ORDER BY level, code`);
    expect(trajectory.map((r) => [r.code, round(r.reference_2011_2020_m2)])).toEqual([
      ['67001', 10_000],
      ['67002', 12_500],
      ['67', 22_500],
    ]);
    expect(await metadata(db, 'vintage_years')).toMatchObject({ table, version: null, scope: 'commune', rows: 6 });
  });
});

describe('--vintage-years errors', () => {
  it('stops on a contradictory table with one line naming its line, before any work', async () => {
    const run = await runOnSquares(undefined, (dir, { vintages }) => [...vintages, '--vintage-years', writeIn(dir, 'years.csv', 'departement,vintage,year\n67,2010,2007\n67,2019,2018\n67,2010,2008\n')]);
    const table = path.join(run.dir, 'years.csv');
    expect(run.code).toBe(2);
    expect(run.err()).toBe(`ocs-zan: error: ${table}:4: département 67, vintage 2010 is given twice (also line 2) (keep one row per key and vintage)\n`);
    expect(existsSync(run.out)).toBe(false);
  });

  it('stops when table rows and labels put a later vintage at an earlier year', async () => {
    const run = await runOnSquares(undefined, (dir, { vintages }) => [...vintages, '--vintage-years', writeIn(dir, 'years.csv', 'departement,vintage,year\n67,2019,2009\n')]);
    const table = path.join(run.dir, 'years.csv');
    expect(run.code).toBe(2);
    expect(run.err().trim().split('\n')).toEqual([
      `ocs-zan: error: indicators: ${table}: commune 67001 (département 67) has vintage 2019 in year 2009 (line 2), not after vintage 2010 in year 2010 (no row: the label) (give each of its vintages a row, with years increasing with the vintages)`,
    ]);
    expect(existsSync(run.out)).toBe(false);
  });
});
