import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import gdal from 'gdal-async';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadZanRules } from '../nomenclature/zan-rules.js';
import { ceremaForTerritories, readCeremaFile, type CeremaFile } from '../pipeline/cerema/index.js';
import { UserError } from '../pipeline/core/errors.js';
import { readPlanningDocuments, readTargets } from '../pipeline/indicators/trajectory-inputs.js';
import { buildFixtureDb } from './indicators-fixture.js';
import { buildPortraits } from '../pipeline/portraits/index.js';
import { writeStoredZip } from './helpers/zip.js';

/**
 * Hand-made Cerema files over the indicators fixture (tests/indicators-fixture.ts): communes 54001 and 54002 (EPCI
 * 200000001, département 54), 57001 and 57002 (département 57), région 44, SCoT S1 = 54001 + 57001. 57002 is missing
 * from every file; 67001 is in the files but outside the territories.
 */

type Row = Record<string, unknown>;
const dir = mkdtempSync(path.join(tmpdir(), 'ocs-zan-cerema-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Annual totals per commune, 2009…2023. */
const TOTALS: Record<string, Record<number, number>> = {
  '54001': { 2009: 300, 2010: 300, 2011: 999.5, 2012: 1000.5, 2013: 1000, 2014: 1000, 2015: 1000, 2016: 1000, 2017: 1000, 2018: 1000, 2019: 1000, 2020: 1000, 2021: 1500, 2022: 2000, 2023: 500 },
  '54002': { 2009: 0, 2010: 0, 2011: 2000, 2012: 2000, 2013: 2000, 2014: 2000, 2015: 2000, 2016: 2000, 2017: 2000, 2018: 2000, 2019: 2000, 2020: 2000, 2021: 3500, 2022: 3500, 2023: 3500 },
  '57001': { 2009: 0, 2010: 0, 2011: 500, 2012: 500, 2013: 500, 2014: 500, 2015: 500, 2016: 500, 2017: 500, 2018: 500, 2019: 500, 2020: 500, 2021: 0, 2022: 0, 2023: 0 },
  '67001': { 2009: 1, 2010: 1, 2011: 1, 2012: 1, 2013: 1, 2014: 1, 2015: 1, 2016: 1, 2017: 1, 2018: 1, 2019: 1, 2020: 1, 2021: 1, 2022: 1, 2023: 1 },
};
const yy = (year: number): string => String(year % 100).padStart(2, '0');

/** The published file: `;`, upper-case names, decimal commas, rou/fer, cumulatives, a NULL, one destination mismatch. */
function newReleaseCsv(last: number): string {
  const years = Array.from({ length: last - 2009 + 1 }, (_, i) => 2009 + i);
  const dests = ['ACT', 'HAB', 'MIX', 'ROU', 'FER', 'INC'];
  const header = ['IDCOM', 'IDCOMTXT', 'IDDEP', 'EPCI23', 'SCOT', ...years.map((y) => `NAF${yy(y)}ART${yy(y + 1)}`),
    ...years.flatMap((y) => dests.map((d) => `ART${yy(y)}${d}${yy(y + 1)}`)), `NAF09ART${yy(last + 1)}`, 'SURFCOM2023'];
  const lines = [header.join(';')];
  for (const [code, totals] of Object.entries(TOTALS)) {
    const cells = [code, `Commune ${code}; "bis"`.replace(/[;"]/g, ''), code.slice(0, 2), '200000001', 'SCoT du test'];
    cells.push(...years.map((y) => (code === '54002' && y === 2009 ? 'NULL' : String(totals[y]).replace('.', ','))));
    for (const y of years) {
      const total = totals[y]!;
      // 54001 2021 split over every destination; 54002 2022 destinations 100 m² short of the total.
      const split = code === '54001' && y === 2021 ? [500, 700, 100, 100, 0, 100] : [0, code === '54002' && y === 2022 ? total - 100 : total, 0, 0, 0, 0];
      cells.push(...split.map((v) => String(v).replace('.', ',')));
    }
    cells.push(String(Object.values(totals).reduce((a, b) => a + b, 0)).replace('.', ','), '4000000');
    lines.push(cells.join(';'));
  }
  return `${lines.join('\r\n')}\r\n`;
}

/** An older release: `,`, lower case, nafart09LL cumulatives, no rou/fer, NULL for missing values, years 2009…2021. */
function oldReleaseCsv(): string {
  const years = Array.from({ length: 13 }, (_, i) => 2009 + i);
  const dests = ['act', 'hab', 'mix', 'inc'];
  const header = ['idcom', 'idcomtxt', ...years.map((y) => `naf${yy(y)}art${yy(y + 1)}`), ...years.flatMap((y) => dests.map((d) => `art${yy(y)}${d}${yy(y + 1)}`)), 'nafart0922', 'artact0922'];
  const lines = [header.join(',')];
  for (const [code, totals] of Object.entries(TOTALS)) {
    const cells = [code, `"Commune ${code}, test"`, ...years.map((y) => String(totals[y]))];
    for (const y of years) cells.push(...(code === '57001' && y === 2021 ? ['NULL', 'NULL', 'NULL', 'NULL'] : ['0', String(totals[y]), '0', '0']));
    cells.push('NULL', '0');
    lines.push(cells.join(','));
  }
  return `${lines.join('\n')}\n`;
}

function write(name: string, text: string): string {
  const file = path.join(dir, name);
  writeFileSync(file, text);
  return file;
}

let newFile: CeremaFile;
beforeAll(() => {
  newFile = readCeremaFile(write('obs_artif_conso_com_2009_2023.csv', newReleaseCsv(2023)));
});

describe('readCeremaFile', () => {
  it('reads the published ;-delimited file with upper-case names, decimal commas, NULL and every destination', () => {
    expect(newFile.years).toEqual([2009, 2023]);
    expect(newFile.destinations).toEqual(['total', 'activite', 'habitat', 'mixte', 'route', 'ferroviaire', 'inconnu']);
    expect(newFile.communes).toEqual(['54001', '54002', '57001', '67001']);
    expect(newFile.missingValues).toBe(1);
    expect(newFile.destinationMismatches).toEqual({ count: 1, examples: ['54002 2022: 3400 vs 3500'] });
    const at = (code: string, year: number, destination: string) => newFile.rows.find((r) => r.commune_code === code && r.year === year && r.destination === destination)?.area_m2;
    expect([at('54001', 2011, 'total'), at('54001', 2012, 'total'), at('54001', 2021, 'route'), at('54001', 2021, 'ferroviaire')]).toEqual([999.5, 1000.5, 100, 0]);
    // naf09art24 (the cumulative) is not a year.
    expect(newFile.rows.some((r) => r.year === 2009 && r.area_m2 > 1000)).toBe(false);
    expect(at('54002', 2009, 'total')).toBeUndefined();
  });

  it('reads an older ,-delimited release in lower case, without rou/fer and with nafart09LL cumulatives', () => {
    const old = readCeremaFile(write('obs_artif_conso_com_2009_2021.csv', oldReleaseCsv()));
    expect(old.years).toEqual([2009, 2021]);
    expect(old.destinations).toEqual(['total', 'activite', 'habitat', 'mixte', 'inconnu']);
    expect(old.missingValues).toBe(4);
    expect(old.destinationMismatches.count).toBe(0);
    expect(old.rows.filter((r) => r.commune_code === '54001' && r.destination === 'total').map((r) => r.area_m2)).toEqual([300, 300, 999.5, 1000.5, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1500]);
  });

  it('reads the zipped shapefile through GDAL (upper-case names cut to 10 characters, codes typed as numbers)', () => {
    const shpDir = mkdtempSync(path.join(dir, 'shp-'));
    const dataset = gdal.drivers.get('ESRI Shapefile').create(path.join(shpDir, 'obs_artif_conso_com_2009_2022.shp'));
    const layer = dataset.layers.create('obs_artif_conso_com_2009_2022', null, gdal.wkbPolygon);
    layer.fields.add(new gdal.FieldDefn('IDCOM', gdal.OFTString));
    layer.fields.add(new gdal.FieldDefn('NAF11ART12', gdal.OFTReal));
    layer.fields.add(new gdal.FieldDefn('SURFCOM202', gdal.OFTReal));
    for (const [code, area] of [['54001', 1234.5], ['01004', 10]] as const) {
      const feature = new gdal.Feature(layer);
      feature.fields.set({ IDCOM: code, NAF11ART12: area, SURFCOM202: 1e6 });
      feature.setGeometry(gdal.Geometry.fromWKT('POLYGON((0 0,1 0,1 1,0 0))'));
      layer.features.add(feature);
    }
    dataset.close();
    const zip = path.join(dir, 'obs_artif_conso_com_2009_2022.zip');
    writeStoredZip(zip, readdirSync(shpDir).sort().map((name) => ({ name, data: readFileSync(path.join(shpDir, name)) })));
    const shp = readCeremaFile(zip);
    expect(shp.rows).toEqual([
      { commune_code: '01004', year: 2011, destination: 'total', area_m2: 10 },
      { commune_code: '54001', year: 2011, destination: 'total', area_m2: 1234.5 },
    ]);
  });

  it('refuses a file without idcom or without annual naf columns, and bad values, naming the file and row (exit 2)', () => {
    const refused = (text: string): UserError => {
      try {
        readCeremaFile(write('bad.csv', text));
      } catch (error) {
        expect(error).toBeInstanceOf(UserError);
        return error as UserError;
      }
      throw new Error('expected a refusal');
    };
    expect(refused('code;naf11art12\n54001;3\n').line()).toMatch(/bad\.csv: Cerema file has no idcom column \(columns: code, naf11art12\)/);
    expect(refused('idcom;naf09art22\n54001;3\n').line()).toMatch(/bad\.csv: Cerema file has no annual nafYYartZZ column/);
    expect(refused('idcom;naf11art12\n54001;3\n54002;trois\n').line()).toMatch(/bad\.csv, feature line 3: naf11art12 = "trois" is not a number of m²/);
    expect(refused('idcom;naf11art12\n54001;3\n54001;4\n').line()).toMatch(/commune 54001 appears twice \(first at line 2\)/);
    expect(refused('idcom;naf11art12\n54001;-\n').exitCode).toBe(2);
  });

  it('reports territory communes missing from the file and file communes outside the territories', () => {
    const { rows, report } = ceremaForTerritories(newFile, ['54001', '54002', '57001', '57002']);
    expect(new Set(rows.map((r) => r.commune_code))).toEqual(new Set(['54001', '54002', '57001']));
    expect(report).toMatchObject({
      communes_in_file: 4,
      missing_communes: { count: 1, examples: ['57002'] },
      outside_communes: { count: 1, examples: ['67001'] },
      missing_values: 1,
      destination_mismatches: { count: 1 },
    });
  });
});

describe('trajectory inputs', () => {
  it('reads targets as shares or percentages and planning documents with their eligibility', () => {
    const targets = readTargets(write('targets.csv', 'level;code;reduction_target;document\nregion;44;54,47 %;SRADDET\nscot;S1;0.3;\n'));
    expect(targets).toEqual([
      { level: 'region', code: '44', reductionTarget: 0.5447, document: 'SRADDET' },
      { level: 'scot', code: 'S1', reductionTarget: 0.3, document: null },
    ]);
    const refusal = (read: () => unknown): string => {
      try {
        read();
      } catch (error) {
        return (error as UserError).line();
      }
      return 'accepted';
    };
    expect(refusal(() => readTargets(write('t2.csv', 'level,code,reduction_target\ncanton,1,0.5\n')))).toMatch(/t2\.csv, feature line 2: level "canton" is not one of/);
    expect(refusal(() => readTargets(write('t3.csv', 'level,code,reduction_target\nscot,S1,1.5\n')))).toMatch(/reduction_target "1.5" is not a share/);
    const rules = loadZanRules();
    expect(readPlanningDocuments(write('docs.csv', 'commune_code,document\n54001,PLU\n54002,rnu\n57001,CC\n'), rules)).toEqual([
      { communeCode: '54001', document: 'PLU', eligible: true },
      { communeCode: '54002', document: 'rnu', eligible: false },
      { communeCode: '57001', document: 'CC', eligible: true },
    ]);
    expect(refusal(() => readPlanningDocuments(write('d2.csv', 'commune_code,document\n54001,SCOT\n'), rules))).toMatch(/d2\.csv, feature line 2: unknown document type "SCOT"/);
    expect(() => readPlanningDocuments(write('d3.csv', 'commune,document\n54001,PLU\n'), rules)).toThrow(/lacks column\(s\) commune_code/);
  });
});

async function withDb<T>(dbPath: string, run: (query: (sql: string) => Promise<Row[]>) => Promise<T>): Promise<T> {
  const instance = await DuckDBInstance.create(dbPath, { access_mode: 'READ_ONLY' });
  const connection: DuckDBConnection = await instance.connect();
  try {
    return await run(async (sql) => (await connection.runAndReadAll(sql)).getRowObjectsJS() as Row[]);
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

describe('consumption_cerema and trajectory (source cerema)', () => {
  const communes = ['54001', '54002', '57001', '57002'];
  let consumption: Row[];
  let comparison: Row[];
  let trajectory: Map<string, Row>;
  let portraitHtml: (file: string) => string;
  beforeAll(async () => {
    const { rows } = ceremaForTerritories(newFile, communes);
    const rules = loadZanRules();
    const built = await buildFixtureDb({
      cerema: rows,
      targets: readTargets(write('targets.csv', 'level;code;reduction_target;document\nregion;44;54,47 %;SRADDET\nscot;S1;0.3;\n')),
      planningDocuments: readPlanningDocuments(write('docs.csv', 'commune_code,document\n54001,PLU\n54002,RNU\n57001,CC\n'), rules),
    });
    await withDb(built.dbPath, async (query) => {
      consumption = await query(`SELECT * FROM consumption_cerema ORDER BY level, code, year, destination`);
      comparison = await query(`SELECT * FROM consumption_comparison ORDER BY level, code, from_rank, to_rank`);
      trajectory = new Map((await query(`SELECT * FROM trajectory`)).map((r) => [`${r.level} ${r.code}`, r]));
    });
    const out = path.join(dir, 'portraits');
    await buildPortraits({ db: built.dbPath, out, force: true });
    portraitHtml = (file) => readFileSync(path.join(out, file), 'utf8');
  }, 60_000);

  it('sums every level from the communes, by year and destination, in exact m²', () => {
    const at = (level: string, code: string, year: number, destination = 'total') =>
      consumption.find((r) => r.level === level && r.code === code && r.year === year && r.destination === destination)?.area_m2;
    expect([at('commune', '54001', 2011), at('commune', '54001', 2021, 'activite'), at('commune', '57002', 2011)]).toEqual([999.5, 500, undefined]);
    expect([at('epci', '200000001', 2011), at('epci', '200000001', 2021), at('epci', '200000001', 2021, 'habitat')]).toEqual([2999.5, 5000, 4200]);
    expect([at('departement', '57', 2015), at('region', '44', 2022), at('scot', 'S1', 2012)]).toEqual([500, 5500, 1500.5]);
    expect(consumption.some((r) => r.code === '67001')).toBe(false);
  });

  it('gives each commune its reference, inherited target, allowance with the garantie communale when eligible, consumption since 2021 and status', () => {
    const c54001 = trajectory.get('commune 54001')!;
    // Reference 10,000 m²; target 0.3 inherited from SCoT S1 (smaller than the région); 7,000 m² raised to 1 ha by the PLU.
    expect(c54001).toMatchObject({
      source: 'cerema', reference_2011_2020_m2: 10_000, reference_basis: 'Cerema 2011–2020', reduction_target: 0.3, reduction_target_from: 'scot S1',
      allowance_2021_2030_m2: 10_000, guarantee_applied: true, consumed_since_2021_m2: 4000, consumed_through_year: 2023, remaining_m2: 6000,
      status: 'estimated_to_exceed', communes: 1, communes_without_data: 0,
    });
    expect(c54001.estimated_2021_2030_m2).toBeCloseTo(4000 + (4000 / 3) * 7, 6);
    expect(c54001.status_reason).toBe('consumed through 2023; estimated 13333 m² over 2021–2030 at the mean annual rate since 2021 (estimate); garantie communale applied (PLU): allowance raised to 10000 m²');
    // RNU: no guarantee. 20,000 × (1 − 0.5447) = 9,106 m², 10,500 consumed.
    const c54002 = trajectory.get('commune 54002')!;
    expect(c54002).toMatchObject({ reduction_target: 0.5447, reduction_target_from: 'region 44', guarantee_applied: false, consumed_since_2021_m2: 10_500, status: 'exceeded' });
    expect(c54002.allowance_2021_2030_m2).toBeCloseTo(9106, 6);
    expect(c54002.remaining_m2).toBeCloseTo(-1394, 6);
    expect(c54002.status_reason).toMatch(/garantie communale not applied: RNU is not eligible$/);
    expect(trajectory.get('commune 57001')).toMatchObject({ reference_2011_2020_m2: 5000, allowance_2021_2030_m2: 10_000, guarantee_applied: true, consumed_since_2021_m2: 0, status: 'within_allowance' });
    expect(trajectory.get('commune 57002')).toMatchObject({ status: 'not_computable', reference_2011_2020_m2: null, allowance_2021_2030_m2: null, communes_without_data: 1 });
    expect(trajectory.get('commune 57002')!.status_reason).toBe('not in the Cerema file; garantie communale not applied: no planning document listed');
  });

  it('compares OCS and Cerema over the same years, each commune on its own vintages', () => {
    const at = (level: string, code: string, from: number, to: number) => comparison.find((r) => r.level === level && r.code === code && r.from_rank === from && r.to_rank === to);
    // 54001: 2010→2019 counts Cerema 2010…2018; 2019→2022 counts 2019…2021; OCS measured 1 ha and 1 ha.
    expect(at('commune', '54001', 1, 2)).toMatchObject({ from_vintage: 2010, to_vintage: 2019, ocs_consumption_m2: 10_000, cerema_consumption_m2: 8300, difference_m2: 1700 });
    expect(at('commune', '54001', 2, 3)).toMatchObject({ ocs_consumption_m2: 10_000, cerema_consumption_m2: 3500 });
    expect(at('commune', '57001', 1, 3)).toMatchObject({ from_vintage: 2011, to_vintage: 2021, cerema_consumption_m2: 5000 });
    // EPCI: 54001 (8,300) + 54002 (16,000) over 2010→2019.
    expect(at('epci', '200000001', 1, 2)).toMatchObject({ ocs_consumption_m2: 20_000, cerema_consumption_m2: 24_300 });
  });

  it('shows the trajectory, the annual Cerema chart and the comparison in the portraits', () => {
    const html = portraitHtml('commune-54001.html');
    expect(html).toContain('Consommation annuelle d’ENAF et enveloppe 2021–2030');
    expect(html).toContain('dépassement estimé');
    expect(html).toContain('data-key="trajectory|allowance_2021_2030_m2"');
    expect(html).toContain('data-key="consumption_comparison|cerema_consumption_m2|from_vintage=2010|to_vintage=2019" data-value="8300"');
    expect(html).toContain('Source : fichiers fonciers traités par le Cerema');
    // 2011…2023 and the legend swatch.
    expect((html.match(/<rect [^>]*fill="#fdae61"/g) ?? []).length).toBe(14);
  });

  it('gives parents their own allowance from their own reference, never the sum of floored communes', () => {
    const epci = trajectory.get('epci 200000001')!;
    expect(epci).toMatchObject({ reference_2011_2020_m2: 30_000, reduction_target_from: 'region 44', guarantee_applied: false, consumed_since_2021_m2: 14_500, status: 'exceeded' });
    expect(epci.allowance_2021_2030_m2).toBeCloseTo(30_000 * (1 - 0.5447), 6);
    expect(trajectory.get('departement 54')!.allowance_2021_2030_m2).toBeCloseTo(30_000 * (1 - 0.5447), 6);
    const d57 = trajectory.get('departement 57')!;
    expect(d57).toMatchObject({ reference_2011_2020_m2: 5000, communes: 2, communes_without_data: 1, status: 'within_allowance' });
    expect(d57.status_reason).toMatch(/; 1 of 2 communes not in the Cerema file$/);
    const region = trajectory.get('region 44')!;
    expect(region).toMatchObject({ reference_2011_2020_m2: 35_000, reduction_target: 0.5447, reduction_target_from: 'own' });
    expect(region.allowance_2021_2030_m2).toBeCloseTo(35_000 * (1 - 0.5447), 6);
    expect(trajectory.get('scot S1')).toMatchObject({ reference_2011_2020_m2: 15_000, allowance_2021_2030_m2: 10_500, reduction_target_from: 'own' });
  });

  it('uses an older release (no 2022 and 2023, no rou/fer) and applies no guarantee without a planning documents file', async () => {
    const old = readCeremaFile(path.join(dir, 'obs_artif_conso_com_2009_2021.csv'));
    const built = await buildFixtureDb({ cerema: ceremaForTerritories(old, communes).rows, targets: [], planningDocuments: null });
    await withDb(built.dbPath, async (query) => {
      const [row] = await query(`SELECT * FROM trajectory WHERE level = 'commune' AND code = '54001'`);
      expect(row).toMatchObject({
        reference_2011_2020_m2: 10_000, reduction_target: 0.5, reduction_target_from: 'default', allowance_2021_2030_m2: 5000, guarantee_applied: false,
        consumed_since_2021_m2: 1500, consumed_through_year: 2021, remaining_m2: 3500, estimated_2021_2030_m2: 15_000, status: 'estimated_to_exceed',
      });
      expect(row!.status_reason).toMatch(/garantie communale not applied: no --planning-documents file$/);
      const destinations = await query(`SELECT DISTINCT destination FROM consumption_cerema ORDER BY 1`);
      expect(destinations.map((r) => r.destination)).toEqual(['activite', 'habitat', 'inconnu', 'mixte', 'total']);
    });
    rmSync(built.dir, { recursive: true, force: true });
  }, 60_000);
});
