import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import gdal from 'gdal-async';
import { afterAll, describe, expect, it } from 'vitest';
import { loadNomenclature } from '../nomenclature/loader.js';
import { computeIndicators } from '../pipeline/indicators/index.js';
import { PROJECT_ROOT } from '../pipeline/core/paths.js';
import { readTerritories, territoryGeometries } from '../pipeline/territories/index.js';

/**
 * Hand-over from the territories stage on real communes (Meurthe-et-Moselle, Admin Express 2018):
 * one piece per cleaned commune, artificialised in 2019 for every other commune.
 */
const COMMUNES = path.join(PROJECT_ROOT, '..', 'shared', 'data', 'communes-grand-est-2018', 'communes-54-meurthe-et-moselle.geojson');
const dir = mkdtempSync(path.join(tmpdir(), 'ocs-zan-indicators-real-'));

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('indicators on real communes', () => {
  it('sums communes to their EPCI and département, with union geometry of the same area', async () => {
    const territories = await readTerritories({ path: COMMUNES, communeFilter: (code) => code >= '54001' && code <= '54030' });
    const instance = await DuckDBInstance.create(':memory:');
    const connection = await instance.connect();
    await connection.run(`CREATE TABLE piece (piece_id BIGINT, commune_code VARCHAR, area_m2 DOUBLE, geom BLOB)`);
    await connection.run(`CREATE TABLE piece_class (piece_id BIGINT, vintage INTEGER, code_cs VARCHAR, code_us VARCHAR, category INTEGER,
      artificialised BOOLEAN, artif_rule VARCHAR, sealed BOOLEAN, enaf VARCHAR, destination VARCHAR)`);
    let changed = 0;
    for (const [i, commune] of territories.communes.entries()) {
      const built = i % 2 === 0;
      if (built) changed += commune.area_m2;
      await connection.run(`INSERT INTO piece VALUES (${i + 1}, '${commune.code}', ${commune.area_m2}, from_hex('${Buffer.from(commune.geomWkb).toString('hex')}'))`);
      await connection.run(`INSERT INTO piece_class VALUES (${i + 1}, 2010, 'CS2.2.1', 'US1.1', 7, false, 'matrix', false, 'naf', NULL),
        (${i + 1}, 2019, ${built ? `'CS1.1.1.1', 'US5', 1, true, 'matrix', true, 'urban', 'habitat'` : `'CS2.2.1', 'US1.1', 7, false, 'matrix', false, 'naf', NULL`})`);
    }
    await connection.run(`COPY piece TO '${dir}/piece.parquet' (FORMAT parquet)`);
    await connection.run(`COPY piece_class TO '${dir}/piece_class.parquet' (FORMAT parquet)`);
    connection.closeSync();
    instance.closeSync();

    const dbPath = path.join(dir, 'ocs.duckdb');
    await computeIndicators({
      dbPath, pieceParquet: `${dir}/piece.parquet`, pieceClassParquet: `${dir}/piece_class.parquet`,
      territories: { ...territories, unions: territoryGeometries(territories) }, nomenclature: loadNomenclature(), runMetadata: {},
    });
    const db = await DuckDBInstance.create(dbPath, { access_mode: 'READ_ONLY' });
    const c = await db.connect();
    const read = async (sql: string) => (await c.runAndReadAll(sql)).getRowObjectsJS();
    const total = territories.communes.reduce((sum, commune) => sum + commune.area_m2, 0);
    const [departement] = await read(`SELECT area_m2, coverage_status, vintages, ST_AsWKB(geom) AS wkb FROM territory WHERE level = 'departement'`);
    expect(departement!.area_m2).toBeCloseTo(total, 3);
    expect([departement!.coverage_status, departement!.vintages]).toEqual(['complete_uniform', '2010, 2019']);
    const union = gdal.Geometry.fromWKB(Buffer.from(departement!.wkb as Uint8Array)) as gdal.Polygon;
    expect(Math.abs(union.getArea() - total) / total).toBeLessThan(1e-6);
    const [flux] = await read(`SELECT net_m2, from_vintage, to_vintage FROM artif_flux WHERE level = 'departement'`);
    expect(flux!.net_m2).toBeCloseTo(changed, 3);
    const mismatch = await read(`
      SELECT t.level, t.code FROM territory t
      JOIN (SELECT m.level, m.code, sum(c.area_m2) AS area FROM membership m JOIN territory c ON c.level = 'commune' AND c.code = m.commune_code GROUP BY ALL) s
      USING (level, code) WHERE abs(s.area - t.area_m2) > 1e-6`);
    expect(mismatch).toEqual([]);
    expect((await read(`SELECT DISTINCT level FROM territory ORDER BY level`)).map((r) => r.level)).toEqual(['commune', 'departement', 'epci', 'region']);
    c.closeSync();
    db.closeSync();
  }, 60_000);
});
