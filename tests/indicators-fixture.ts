import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import gdal from 'gdal-async';
import { loadNomenclature } from '../nomenclature/loader.js';
import { computeIndicators, type IndicatorsInput, type IndicatorsOutput, type OutputTerritories } from '../pipeline/indicators/index.js';

/**
 * Hand-built pieces with known answers, shared by the indicator and export tests.
 *
 * Départements 54 (vintages 2010, 2019, 2022) and 57 (2011, 2018, 2021), région 44.
 * Communes: 54001 (4 ha) and 54002 (2 ha) in EPCI 200000001; 57001 (5 ha); 57002 (1 ha, no data).
 * SCoT S1 = 54001 + 57001 (mixed vintages). Pieces are 100 m-wide rectangles, 1 ha each unless said.
 */

interface PieceSpec {
  id: number;
  commune: string;
  hectares: number;
  /** Category per vintage rank, `null` = not covered. */
  classes: Array<number | null>;
}

export const PIECES: PieceSpec[] = [
  { id: 1, commune: '54001', hectares: 1, classes: [7, 1, 1] }, // artificialised + consumed (habitat) 2010→2019
  { id: 2, commune: '54001', hectares: 1, classes: [7, 7, 2] }, // artificialised + consumed (route) 2019→2022
  { id: 3, commune: '54001', hectares: 1, classes: [4, 4, 9] }, // désartificialised + renatured 2019→2022
  { id: 4, commune: '54001', hectares: 1, classes: [8, 8, 8] },
  { id: 5, commune: '54002', hectares: 1, classes: [8, 3, 3] }, // artificialised + consumed (activite) 2010→2019
  { id: 6, commune: '54002', hectares: 1, classes: [7, 7, 7] },
  { id: 7, commune: '57001', hectares: 3, classes: [7, 1, 1] }, // 3 ha consumed (habitat) 2011→2018
  { id: 8, commune: '57001', hectares: 1, classes: [10, 10, 5] }, // consumed (inconnu) 2018→2021
  { id: 9, commune: '57001', hectares: 1, classes: [1, 1, 1] },
  { id: 10, commune: '57002', hectares: 1, classes: [null, null, null] },
];

export const VINTAGES: Record<string, number[]> = { '54': [2010, 2019, 2022], '57': [2011, 2018, 2021] };

/** Per category: code_cs, code_us, enaf, destination. */
const CLASS_OF: Record<number, [string, string, 'naf' | 'urban', string | null]> = {
  1: ['CS1.1.1.1', 'US5', 'urban', 'habitat'],
  2: ['CS1.1.1.2', 'US4.1.1', 'urban', 'route'],
  3: ['CS1.1.2.1', 'US2', 'urban', 'activite'],
  4: ['CS2.2.1', 'US5', 'urban', 'habitat'],
  5: ['CS1.1.2.2', 'US6.1', 'urban', 'inconnu'],
  7: ['CS2.2.1', 'US1.1', 'naf', null],
  8: ['CS2.1.1.1', 'US1.2', 'naf', null],
  9: ['CS2.2.1', 'US6.3', 'naf', null],
  10: ['CS2.2.1', 'US6.6', 'naf', null],
};

export const CATEGORIES = Array.from({ length: 10 }, (_, i) => ({ num: i + 1, label: `Catégorie ${i + 1}`, artificialised: i < 5 }));

const X0 = 900_000;
const Y0 = 6_800_000;

/** A rectangle 100 m high and `hectares` × 100 m wide, the pieces laid out in a row. */
function rectangle(x: number, hectares: number): string {
  const x1 = x + hectares * 100;
  return `POLYGON((${x} ${Y0},${x1} ${Y0},${x1} ${Y0 + 100},${x} ${Y0 + 100},${x} ${Y0}))`;
}

export function fixtureTerritories(): OutputTerritories {
  const byCommune = new Map<string, string[]>();
  let x = X0;
  for (const piece of PIECES) {
    byCommune.set(piece.commune, [...(byCommune.get(piece.commune) ?? []), rectangle(x, piece.hectares)]);
    x += piece.hectares * 100;
  }
  const communes = [...byCommune].map(([code, polygons]) => {
    const union = (gdal.Geometry.fromWKT(`MULTIPOLYGON(${polygons.map((p) => p.slice('POLYGON'.length)).join(',')})`) as gdal.MultiPolygon).unionCascaded();
    return { code, name: `Commune ${code}`, departement: code.slice(0, 2), geomWkb: union.toWKB(), area_m2: (union as gdal.MultiPolygon).getArea() };
  });
  const levels: Array<OutputTerritories['levels'][number]> = [];
  for (const c of communes) {
    levels.push({ commune_code: c.code, level: 'departement', code: c.departement, name: `Département ${c.departement}` });
    levels.push({ commune_code: c.code, level: 'region', code: '44', name: 'Grand Est' });
    if (c.departement === '54') levels.push({ commune_code: c.code, level: 'epci', code: '200000001', name: 'CC Test' });
    if (c.code === '54001' || c.code === '57001') levels.push({ commune_code: c.code, level: 'scot', code: 'S1', name: 'SCoT Test' });
  }
  return { communes, levels };
}

/** Writes piece.parquet and piece_class.parquet the way the overlay does (WKB BLOB geometry). */
export async function writeFixtureParquet(dir: string): Promise<{ piece: string; pieceClass: string }> {
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  await connection.run(`CREATE TABLE piece (piece_id BIGINT, commune_code VARCHAR, area_m2 DOUBLE, geom BLOB)`);
  await connection.run(`CREATE TABLE piece_class (piece_id BIGINT, vintage INTEGER, code_cs VARCHAR, code_us VARCHAR, category INTEGER,
    artificialised BOOLEAN, artif_rule VARCHAR, sealed BOOLEAN, enaf VARCHAR, destination VARCHAR)`);
  const pieces = await connection.createAppender('piece');
  const classes = await connection.createAppender('piece_class');
  let x = X0;
  for (const piece of PIECES) {
    const geometry = gdal.Geometry.fromWKT(rectangle(x, piece.hectares)) as gdal.Polygon;
    x += piece.hectares * 100;
    pieces.appendBigInt(BigInt(piece.id));
    pieces.appendVarchar(piece.commune);
    pieces.appendDouble(geometry.getArea());
    pieces.appendBlob(geometry.toWKB());
    pieces.endRow();
    piece.classes.forEach((category, rank) => {
      if (category === null) return;
      const [cs, us, enaf, destination] = CLASS_OF[category]!;
      classes.appendBigInt(BigInt(piece.id));
      classes.appendInteger(VINTAGES[piece.commune.slice(0, 2)]![rank]!);
      classes.appendVarchar(cs);
      classes.appendVarchar(us);
      classes.appendInteger(category);
      classes.appendBoolean(category <= 5);
      classes.appendVarchar('matrix');
      classes.appendBoolean(category <= 2);
      classes.appendVarchar(enaf);
      if (destination === null) classes.appendNull();
      else classes.appendVarchar(destination);
      classes.endRow();
    });
  }
  pieces.closeSync();
  classes.closeSync();
  const piece = path.join(dir, 'piece.parquet');
  const pieceClass = path.join(dir, 'piece_class.parquet');
  await connection.run(`COPY (SELECT * FROM piece ORDER BY piece_id) TO '${piece}' (FORMAT parquet)`);
  await connection.run(`COPY (SELECT * FROM piece_class ORDER BY piece_id, vintage) TO '${pieceClass}' (FORMAT parquet)`);
  connection.closeSync();
  instance.closeSync();
  return { piece, pieceClass };
}

/** Builds the fixture's output database in a fresh temporary directory, with the trajectory inputs given. */
export async function buildFixtureDb(trajectory?: IndicatorsInput['trajectory']): Promise<IndicatorsOutput & { dir: string }> {
  const dir = mkdtempSync(path.join(tmpdir(), 'ocs-zan-indicators-'));
  const { piece, pieceClass } = await writeFixtureParquet(dir);
  const result = await computeIndicators({
    dbPath: path.join(dir, 'ocs.duckdb'),
    pieceParquet: piece,
    pieceClassParquet: pieceClass,
    territories: fixtureTerritories(),
    nomenclature: { version: 'test-1', categories: CATEGORIES, couverture: loadNomenclature().couverture, usage: loadNomenclature().usage },
    runMetadata: { inputs: JSON.stringify([{ path: 'fixture', sha256: '0' }]) },
    ...(trajectory ? { trajectory } : {}),
  });
  return { ...result, dir };
}
