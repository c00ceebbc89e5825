import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import gdal from 'gdal-async';
import { afterAll, describe, expect, it } from 'vitest';
import { UserError } from '../pipeline/core/errors.js';
import { PROJECT_ROOT } from '../pipeline/core/paths.js';
import { departementOfCode, readTerritories, territoryGeometries } from '../pipeline/territories/index.js';
import { polygon, rect, writeCommunes } from './helpers/staged.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'ocs-territories-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const areaOfWkb = (wkb: Buffer): number => (gdal.Geometry.fromWKB(wkb) as gdal.Polygon).getArea();

describe('clean partition', () => {
  it('gives an overlap to the lowest INSEE code', async () => {
    const file = writeCommunes(path.join(tmp, 'overlap.gpkg'), [
      { code: '54002', geom: rect(90, 0, 190, 100) },
      { code: '54001', geom: rect(0, 0, 100, 100) },
    ]);
    const t = await readTerritories({ path: file });
    expect(t.communes.map((c) => c.code)).toEqual(['54001', '54002']);
    expect(t.communes[0]!.area_m2).toBeCloseTo(10_000, 6);
    expect(t.communes[1]!.area_m2).toBeCloseTo(9_000, 6);
    expect(areaOfWkb(t.communes[1]!.geomWkb)).toBeCloseTo(9_000, 6);
    expect(t.report.overlaps).toBe(1);
    expect(t.report.overlaps_m2).toBeCloseTo(1_000, 6);
    expect(t.report.gaps).toBe(0);
  });

  it('gives a hole between three communes to the one sharing the longest boundary', async () => {
    // Hole [100,200]×[100,150]: 100 m with 57001, 50 m with 57002, 150 m with 57003.
    const file = writeCommunes(path.join(tmp, 'hole.gpkg'), [
      { code: '57001', geom: rect(0, 0, 300, 100) },
      { code: '57002', geom: rect(0, 100, 100, 200) },
      {
        code: '57003',
        geom: polygon([
          [200, 100],
          [300, 100],
          [300, 200],
          [100, 200],
          [100, 150],
          [200, 150],
        ]),
      },
    ]);
    const t = await readTerritories({ path: `${file}#communes` });
    const areas = Object.fromEntries(t.communes.map((c) => [c.code, c.area_m2]));
    expect(areas['57001']).toBeCloseTo(30_000, 6);
    expect(areas['57002']).toBeCloseTo(10_000, 6);
    expect(areas['57003']).toBeCloseTo(15_000 + 5_000, 6);
    expect(t.report.gaps).toBe(1);
    expect(t.report.gaps_m2).toBeCloseTo(5_000, 6);
    const total = t.communes.reduce((s, c) => s + c.area_m2, 0);
    expect(total).toBeCloseTo(300 * 200, 6);
  });
});

describe('membership', () => {
  it('reports unmatched communes and falls back on the code for the département', async () => {
    const file = writeCommunes(path.join(tmp, 'members.gpkg'), [
      { code: '54001', geom: rect(0, 0, 100, 100) },
      { code: '54999', geom: rect(100, 0, 200, 100) },
      { code: '2A999', geom: rect(200, 0, 300, 100) },
      { code: '97199', geom: rect(300, 0, 400, 100) },
    ]);
    const scot = path.join(tmp, 'scot.csv');
    writeFileSync(scot, 'commune_code,scot_code,scot_name\n54001,S1,SCoT Sud 54\n54999,S1,SCoT Sud 54\n99999,S2,Ailleurs\n');
    const t = await readTerritories({ path: file, scotCsv: scot });
    expect(t.report.unmatched_communes).toEqual(['2A999', '54999', '97199']);
    expect(t.report.scot_unknown_communes).toEqual(['99999']);
    expect(Object.fromEntries(t.communes.map((c) => [c.code, c.departement]))).toEqual({
      '2A999': '2A',
      '54001': '54',
      '54999': '54',
      '97199': '971',
    });
    const of = (code: string) => t.levels.filter((r) => r.commune_code === code).map((r) => `${r.level}:${r.code}`);
    expect(of('54001')).toEqual(['commune:54001', 'epci:200070589', 'scot:S1', 'departement:54', 'region:44']);
    expect(of('54999')).toEqual(['commune:54999', 'scot:S1', 'departement:54', 'region:44']);
    expect(of('2A999')).toEqual(['commune:2A999', 'departement:2A', 'region:94']);
    expect(departementOfCode('97411')).toBe('974');

    const geoms = territoryGeometries(t);
    const scotGeom = geoms.find((g) => g.level === 'scot' && g.code === 'S1')!;
    expect(scotGeom.area_m2).toBeCloseTo(20_000, 6);
    expect(geoms.find((g) => g.level === 'departement' && g.code === '54')!.area_m2).toBeCloseTo(20_000, 6);
  });

  it('refuses a missing code field with one actionable line', async () => {
    const file = writeCommunes(path.join(tmp, 'fields.gpkg'), [{ code: '54001', geom: rect(0, 0, 10, 10) }]);
    await expect(readTerritories({ path: file, codeField: 'insee' })).rejects.toBeInstanceOf(UserError);
  });
});

describe('real communes', () => {
  it('reprojects lon/lat GeoJSON to Lambert-93 and leaves a partition without overlaps', async () => {
    const file = path.join(PROJECT_ROOT, '..', 'shared', 'data', 'communes-grand-est-2018', 'communes-54-meurthe-et-moselle.geojson');
    const wanted = new Set(['54395', '54304', '54431', '54547', '54339', '54357', '54482', '54300']);
    const t = await readTerritories({ path: file, communeFilter: (code) => wanted.has(code) });
    expect(t.communes.length).toBe(wanted.size);
    for (const c of t.communes) {
      const e = gdal.Geometry.fromWKB(c.geomWkb).getEnvelope();
      expect(e.minX).toBeGreaterThan(800_000);
      expect(e.maxX).toBeLessThan(1_100_000);
      expect(e.minY).toBeGreaterThan(6_700_000);
      expect(e.maxY).toBeLessThan(7_000_000);
    }
    // Cleaned communes do not overlap: their areas add up to the area of their union.
    const sum = t.communes.reduce((s, c) => s + c.area_m2, 0);
    const union = territoryGeometries(t).find((g) => g.level === 'departement')!;
    expect(Math.abs(union.area_m2 - sum) / sum).toBeLessThan(1e-9);
  });
});
