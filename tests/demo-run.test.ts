import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../cli/registry.js';
import { PROJECT_ROOT } from '../pipeline/core/paths.js';
import { capture, tempDir } from './ingest-helpers.js';
import { readArchive, type Archive } from './helpers/pmtiles-dump.js';
import { layerAreaM2 } from './helpers/tile-area.js';

/**
 * `make demo`'s run (fixtures/demo.yml: 12 real communes around Sélestat, 2010/2019/2022), checked for the
 * invariants that must hold on any real output: areas conserved, stocks and flows balance, levels sum up,
 * every territory has its portrait, tiles hold every vintage within budget and match the stock.
 */

const out = path.join(tempDir('ocs-zan-demo-'), 'out');
let instance: DuckDBInstance;
let rowsOf: (sql: string) => Promise<Array<Record<string, unknown>>>;
let stdout = '';

beforeAll(async () => {
  const { io, out: printed, err } = capture();
  // Not --quiet, which silences the summary checked below: progress goes to stderr, with no warning or error.
  const code = await runCli(['run', '--config', path.join(PROJECT_ROOT, 'fixtures', 'demo.yml'), '--out', out], io);
  expect(err()).not.toMatch(/^(warning|ocs-zan: (internal )?error|options):/m);
  expect(code).toBe(0);
  stdout = printed();
  instance = await DuckDBInstance.create(path.join(out, 'ocs.duckdb'), { access_mode: 'READ_ONLY' });
  const connection = await instance.connect();
  rowsOf = async (sql) => (await connection.runAndReadAll(sql)).getRowObjectsJS() as Array<Record<string, unknown>>;
}, 600_000);

afterAll(() => instance?.closeSync());

/** Relative difference tolerated between sums of the same areas taken in another order. */
const EPSILON = 1e-9;

describe('make demo output', () => {
  it('prints counts per vintage and per class, and where the outputs are', () => {
    expect(stdout).toMatch(/vintage 2010: \d+ polygons/);
    expect(stdout).toMatch(/area per décret 2023-1096 category/);
    expect(stdout).toMatch(/portraits .*index\.html/);
    expect(stdout).toMatch(/tiles .*ocs\.pmtiles/);
  });

  it('attributes every square metre of each commune to its pieces', async () => {
    const rows = await rowsOf(`
      SELECT t.code, t.area_m2, sum(p.area_m2) AS pieces_m2
      FROM territory t JOIN piece p ON p.commune_code = t.code WHERE t.level = 'commune' GROUP BY ALL`);
    expect(rows.length).toBe(12);
    for (const r of rows) expect(Math.abs(Number(r.pieces_m2) / Number(r.area_m2) - 1), String(r.code)).toBeLessThan(1e-6);
  });

  it('balances artificialised stocks and flows for every territory and period', async () => {
    const rows = await rowsOf(`
      SELECT f.level, f.code, f.from_vintage, f.to_vintage, f.net_m2,
             s1.artificialised_m2 - s0.artificialised_m2 AS stock_change
      FROM artif_flux f
      JOIN stock_summary s0 ON s0.level = f.level AND s0.code = f.code AND s0.vintage_rank = f.from_rank
      JOIN stock_summary s1 ON s1.level = f.level AND s1.code = f.code AND s1.vintage_rank = f.to_rank`);
    expect(rows.length).toBeGreaterThan(12 * 3);
    for (const r of rows) expect(Number(r.net_m2)).toBeCloseTo(Number(r.stock_change), 3);
  });

  it('sums communes into every higher level', async () => {
    const rows = await rowsOf(`
      WITH communes AS (
        SELECT m.level, m.code, f.from_vintage, f.to_vintage, sum(f.artificialisation_m2) AS artif, sum(f.net_m2_per_year) AS per_year
        FROM artif_flux f JOIN membership m ON m.commune_code = f.code AND f.level = 'commune'
        WHERE m.level <> 'commune' GROUP BY ALL)
      SELECT c.level, c.code, c.artif, f.artificialisation_m2, c.per_year, f.net_m2_per_year
      FROM communes c JOIN artif_flux f USING (level, code, from_vintage, to_vintage)`);
    expect(new Set(rows.map((r) => r.level))).toEqual(new Set(['epci', 'departement', 'region']));
    for (const r of rows) {
      expect(Number(r.artificialisation_m2)).toBeCloseTo(Number(r.artif), 3);
      expect(Number(r.net_m2_per_year)).toBeCloseTo(Number(r.per_year), 3);
    }
  });

  it('has category stocks summing to the covered area of each vintage', async () => {
    const rows = await rowsOf(`
      SELECT s.level, s.code, s.vintage, s.covered_m2, sum(k.area_m2) AS categories_m2
      FROM stock_summary s JOIN stock k USING (level, code, vintage) GROUP BY ALL`);
    for (const r of rows) expect(Math.abs(Number(r.categories_m2) - Number(r.covered_m2))).toBeLessThanOrEqual(Number(r.covered_m2) * EPSILON + 1e-6);
  });

  it('writes a portrait for every commune, its EPCIs, département and région, all linked from the index', async () => {
    const territories = await rowsOf(`SELECT level, code FROM territory WHERE level IN ('commune', 'epci', 'departement', 'region')`);
    const index = readFileSync(path.join(out, 'portraits', 'index.html'), 'utf8');
    for (const t of territories) {
      const file = `${t.level}-${t.code}.html`;
      expect(existsSync(path.join(out, 'portraits', file)), file).toBe(true);
      expect(index).toContain(`href="${file}"`);
    }
    expect(territories.filter((t) => t.level === 'commune')).toHaveLength(12);
  });

  it('computes the trajectory from the shipped synthetic Cerema file, with the garantie communale from the planning documents', async () => {
    expect(stdout).toMatch(/cerema: 12 communes in the file, years 2009–2023; 0 territory communes missing, 0 outside the territories, 0 destination mismatches/);
    const rows = await rowsOf(`SELECT level, code, source, status, guarantee_applied, reference_2011_2020_m2, allowance_2021_2030_m2, consumed_through_year FROM trajectory ORDER BY level, code`);
    expect(new Set(rows.map((r) => r.source))).toEqual(new Set(['cerema']));
    expect(rows.every((r) => r.consumed_through_year === 2023 && Number(r.reference_2011_2020_m2) > 0)).toBe(true);
    // Small communes with a PLU or a CC get the 1 ha guarantee; the RNU commune (planning-documents.csv) does not,
    // although its allowance is under 1 ha; parents never do.
    expect(rows.filter((r) => r.guarantee_applied === true).map((r) => r.code)).toEqual(['67094', '67310', '67311']);
    expect(rows.find((r) => r.code === '67187')).toMatchObject({ guarantee_applied: false });
    expect(Number(rows.find((r) => r.code === '67187')!.allowance_2021_2030_m2)).toBeLessThan(10_000);
    expect(rows.filter((r) => r.level !== 'commune').every((r) => r.guarantee_applied === false)).toBe(true);
    const html = readFileSync(path.join(out, 'portraits', 'commune-67462.html'), 'utf8');
    expect(html).toContain('Consommation annuelle d’ENAF et enveloppe 2021–2030');
    expect(html).toContain('Consommation d’ENAF : OCS et Cerema sur les mêmes années');
    const metadata = await rowsOf(`SELECT key, value FROM run_metadata WHERE key IN ('cerema', 'planning_documents', 'thresholds') ORDER BY key`);
    expect(metadata.map((r) => r.key)).toEqual(['cerema', 'planning_documents', 'thresholds']);
    expect(JSON.parse(String(metadata[2]!.value)).applied).toBe(true);
    // Provenance: the Cerema file as written in fixtures/demo.yml, so that the metadata does not depend on the checkout path.
    expect(JSON.parse(String(metadata[0]!.value)).file).toBe('data/obs_artif_conso_com_2009_2023.csv');
  });

  describe('tiles', () => {
    let archive: Archive;
    beforeAll(async () => {
      archive = await readArchive(path.join(out, 'tiles', 'ocs.pmtiles'));
    }, 120_000);

    it('holds land use per vintage, changes and territories, every tile within the 500 KB budget', () => {
      const layers = (archive.metadata.vector_layers as Array<{ id: string }>).map((l) => l.id);
      expect(layers).toEqual(expect.arrayContaining(['landuse_2010', 'landuse_2019', 'landuse_2022', 'change_2010_2019', 'change_2019_2022', 'change_2010_2022', 'territory_commune', 'territory_region']));
      for (const tile of archive.tiles) expect(tile.bytes).toBeLessThan(500 * 1024);
    });

    it('covers the stock of each vintage at the highest zoom within 0.5 %', async () => {
      const stock = await rowsOf(`SELECT vintage, covered_m2 FROM stock_summary WHERE level = 'region'`);
      for (const { vintage, covered_m2 } of stock) {
        const area = layerAreaM2(archive, `landuse_${vintage}`, archive.header.maxZoom);
        expect(Math.abs(area / Number(covered_m2) - 1), String(vintage)).toBeLessThan(0.005);
      }
    });
  });

  it('leaves no temporary files behind', () => {
    expect(readdirSync(path.dirname(out)).filter((name) => name.includes('.tmp'))).toEqual([]);
    expect(readdirSync(out)).not.toContain('.work');
  });
});
