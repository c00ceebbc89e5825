/**
 * A small hand-built OUT/ocs.duckdb for the tiles and viewer tests, following docs/OUTPUT_SCHEMA.md:
 * a grid of square pieces near Strasbourg split into two communes, three vintages with classes that
 * change from cell to cell, territories at every level and the indicator tables the tiles read.
 * Swap `buildTilesTestDb` for an `ocs-zan run` on fixtures once the pipeline writes the real file.
 */
import { readFileSync } from 'node:fs';
import { DuckDBInstance } from '@duckdb/node-api';
import gdal from 'gdal-async';
import { LAMBERT93_PROJJSON_PATH } from '../../pipeline/paths.js';

export const TEST_VINTAGES = [2016, 2019, 2022];
const ORIGIN_X = 1_048_000;
const ORIGIN_Y = 6_840_000;

export interface TestDbFacts {
  /** Planar m² of pieces classified at each vintage. */
  stockM2: Record<number, number>;
  pieces: number;
  /** Lon/lat centre of the grid. */
  centre: [number, number];
}

function square(x0: number, y0: number, w: number, h: number): string {
  return `POLYGON((${x0} ${y0}, ${x0 + w} ${y0}, ${x0 + w} ${y0 + h}, ${x0} ${y0 + h}, ${x0} ${y0}))`;
}

/** Category of cell (i, j) at vintage index v: deterministic, with some cells urbanising over time. */
function categoryOf(i: number, j: number, v: number): number {
  const base = ((i * 7 + j * 3) % 10) + 1;
  if (base >= 6 && (i + j) % 5 < v) return ((i + j) % 4) + 1; // NAF cell built up at a later vintage
  if (base === 4 && v === 2 && (i * j) % 3 === 0) return 10; // some desartificialisation
  return base;
}

const CODES: Record<number, [string, string]> = {
  1: ['CS1.1.1.1', 'US5'],
  2: ['CS1.1.1.2', 'US4.1.1'],
  3: ['CS1.1.2.1', 'US2'],
  4: ['CS2.2.1', 'US5'],
  5: ['CS1.1.2.2', 'US6.1'],
  6: ['CS1.2.2', 'US6.3'],
  7: ['CS2.2.1', 'US1.1'],
  8: ['CS2.1.1.1', 'US1.2'],
  9: ['CS2.1.2', 'US6.3'],
  10: ['CS2.2.1', 'US6.3'],
};

/**
 * Writes the DB at `dbPath`: `cells`×`cells` pieces of `cellM` metres. Returns the figures the
 * tests compare the tiles with.
 */
export async function buildTilesTestDb(dbPath: string, options: { cells?: number; cellM?: number } = {}): Promise<TestDbFacts> {
  const cells = options.cells ?? 40;
  const cellM = options.cellM ?? 50;
  const projjson = readFileSync(LAMBERT93_PROJJSON_PATH, 'utf8');
  const instance = await DuckDBInstance.create(dbPath);
  const conn = await instance.connect();
  const stockM2: Record<number, number> = {};
  try {
    await conn.run(`CREATE TABLE raw_geom (id BIGINT, commune_code VARCHAR, area_m2 DOUBLE, wkb BLOB)`);
    await conn.run(`CREATE TABLE piece_class (piece_id BIGINT, vintage INTEGER, code_cs VARCHAR, code_us VARCHAR, category INTEGER, artificialised BOOLEAN,
                    artif_rule VARCHAR, sealed BOOLEAN, enaf VARCHAR, destination VARCHAR)`);
    const geoms = await conn.createAppender('raw_geom');
    const classes = await conn.createAppender('piece_class');
    const artifByCommune = new Map<string, number[]>();
    const flux = new Map<string, { art: number; desart: number; enaf: number }>();
    for (let i = 0; i < cells; i++) {
      for (let j = 0; j < cells; j++) {
        const id = i * cells + j + 1;
        const commune = i < cells / 2 ? '67001' : '67002';
        const area = cellM * cellM;
        geoms.appendBigInt(BigInt(id));
        geoms.appendVarchar(commune);
        geoms.appendDouble(area);
        geoms.appendBlob(new Uint8Array(gdal.Geometry.fromWKT(square(ORIGIN_X + i * cellM, ORIGIN_Y + j * cellM, cellM, cellM)).toWKB()));
        geoms.endRow();
        const cats = TEST_VINTAGES.map((_, v) => categoryOf(i, j, v));
        TEST_VINTAGES.forEach((vintage, v) => {
          const category = cats[v]!;
          const artificialised = category <= 5;
          const [cs, us] = CODES[category]!;
          classes.appendBigInt(BigInt(id));
          classes.appendInteger(vintage);
          classes.appendVarchar(cs);
          classes.appendVarchar(us);
          classes.appendInteger(category);
          classes.appendBoolean(artificialised);
          classes.appendVarchar('matrix');
          classes.appendBoolean(category <= 2);
          classes.appendVarchar(artificialised ? 'urban' : 'naf');
          if (artificialised) classes.appendVarchar('habitat');
          else classes.appendNull();
          classes.endRow();
          stockM2[vintage] = (stockM2[vintage] ?? 0) + area;
          const perVintage = artifByCommune.get(commune) ?? TEST_VINTAGES.map(() => 0);
          if (artificialised) perVintage[v]! += area;
          artifByCommune.set(commune, perVintage);
        });
        const f = flux.get(commune) ?? { art: 0, desart: 0, enaf: 0 };
        const first = cats[0]! <= 5;
        const last = cats[cats.length - 1]! <= 5;
        if (!first && last) f.art += area;
        if (first && !last) f.desart += area;
        if (!first && last) f.enaf += area;
        flux.set(commune, f);
      }
    }
    geoms.closeSync();
    classes.closeSync();
    await conn.run(`CREATE TABLE piece AS SELECT id AS piece_id, commune_code, area_m2, ST_SetCRS(ST_GeomFromWKB(wkb), ${sqlString(projjson)}) AS geom FROM raw_geom ORDER BY id`);
    await conn.run(`DROP TABLE raw_geom`);

    // Territories: the two half-grid communes, and EPCI / département / région covering both.
    const half = (cells / 2) * cellM;
    const full = cells * cellM;
    const territories: Array<[string, string, string, string]> = [
      ['commune', '67001', 'Alpha', square(ORIGIN_X, ORIGIN_Y, half, full)],
      ['commune', '67002', 'Bêta', square(ORIGIN_X + half, ORIGIN_Y, half, full)],
      ['epci', '246700000', 'CC Test', square(ORIGIN_X, ORIGIN_Y, full, full)],
      ['departement', '67', 'Bas-Rhin', square(ORIGIN_X - 500, ORIGIN_Y - 500, full + 1000, full + 1000)],
      ['region', '44', 'Grand Est', square(ORIGIN_X - 1000, ORIGIN_Y - 1000, full + 2000, full + 2000)],
    ];
    await conn.run(`CREATE TABLE territory_raw (level VARCHAR, code VARCHAR, name VARCHAR, area_m2 DOUBLE, wkb BLOB)`);
    const terr = await conn.createAppender('territory_raw');
    for (const [level, code, name, wkt] of territories) {
      const g = gdal.Geometry.fromWKT(wkt) as gdal.Polygon;
      terr.appendVarchar(level);
      terr.appendVarchar(code);
      terr.appendVarchar(name);
      terr.appendDouble(g.getArea());
      terr.appendBlob(new Uint8Array(g.toWKB()));
      terr.endRow();
    }
    terr.closeSync();
    await conn.run(`CREATE TABLE territory AS SELECT level, code, name, area_m2, 'complete_uniform' AS coverage_status, '2016, 2019, 2022' AS vintages,
                    ST_SetCRS(ST_GeomFromWKB(wkb), ${sqlString(projjson)}) AS geom FROM territory_raw ORDER BY level, code`);
    await conn.run(`DROP TABLE territory_raw`);

    // Indicators: communes from the grid, higher levels as sums of both communes.
    await conn.run(`CREATE TABLE stock_summary (level VARCHAR, code VARCHAR, vintage INTEGER, vintage_rank INTEGER, covered_m2 DOUBLE, uncovered_m2 DOUBLE,
                    artificialised_m2 DOUBLE, artificialised_share DOUBLE, sealed_m2 DOUBLE, years_combined VARCHAR)`);
    await conn.run(`CREATE TABLE artif_flux (level VARCHAR, code VARCHAR, from_vintage INTEGER, to_vintage INTEGER, from_rank INTEGER, to_rank INTEGER,
                    artificialisation_m2 DOUBLE, desartificialisation_m2 DOUBLE, net_m2 DOUBLE)`);
    await conn.run(`CREATE TABLE enaf_summary (level VARCHAR, code VARCHAR, from_vintage INTEGER, to_vintage INTEGER, from_rank INTEGER, to_rank INTEGER,
                    consumption_m2 DOUBLE, renaturation_m2 DOUBLE)`);
    const communeArea = half * full;
    const sums = { artif: TEST_VINTAGES.map(() => 0), art: 0, desart: 0, enaf: 0 };
    for (const [code, perVintage] of [...artifByCommune.entries()].sort()) {
      const f = flux.get(code)!;
      for (let v = 0; v < TEST_VINTAGES.length; v++) {
        await conn.run(`INSERT INTO stock_summary VALUES ('commune', '${code}', ${TEST_VINTAGES[v]}, ${v + 1}, ${communeArea}, 0, ${perVintage[v]}, ${perVintage[v]! / communeArea}, 0, '')`);
        sums.artif[v]! += perVintage[v]!;
      }
      await conn.run(`INSERT INTO artif_flux VALUES ('commune', '${code}', 2016, 2022, 1, 3, ${f.art}, ${f.desart}, ${f.art - f.desart})`);
      await conn.run(`INSERT INTO enaf_summary VALUES ('commune', '${code}', 2016, 2022, 1, 3, ${f.enaf}, 0)`);
      sums.art += f.art;
      sums.desart += f.desart;
      sums.enaf += f.enaf;
    }
    for (const [level, code] of [['epci', '246700000'], ['departement', '67'], ['region', '44']] as const) {
      for (let v = 0; v < TEST_VINTAGES.length; v++) {
        await conn.run(`INSERT INTO stock_summary VALUES ('${level}', '${code}', ${TEST_VINTAGES[v]}, ${v + 1}, ${2 * communeArea}, 0, ${sums.artif[v]}, ${sums.artif[v]! / (2 * communeArea)}, 0, '')`);
      }
      await conn.run(`INSERT INTO artif_flux VALUES ('${level}', '${code}', 2016, 2022, 1, 3, ${sums.art}, ${sums.desart}, ${sums.art - sums.desart})`);
      await conn.run(`INSERT INTO enaf_summary VALUES ('${level}', '${code}', 2016, 2022, 1, 3, ${sums.enaf}, 0)`);
    }
    // The headline view of docs/OUTPUT_SCHEMA.md (the columns the tiles read), defined as pipeline/indicators.ts does.
    await conn.run(`
      CREATE VIEW v_territory_summary AS
      WITH last AS (SELECT * FROM stock_summary QUALIFY row_number() OVER (PARTITION BY level, code ORDER BY vintage_rank DESC) = 1),
           fl AS (SELECT * FROM artif_flux WHERE from_rank = 1 QUALIFY row_number() OVER (PARTITION BY level, code ORDER BY to_rank DESC) = 1),
           en AS (SELECT * FROM enaf_summary WHERE from_rank = 1 QUALIFY row_number() OVER (PARTITION BY level, code ORDER BY to_rank DESC) = 1)
      SELECT t.level, t.code, t.name, t.area_m2 / 1e4 AS area_ha, t.coverage_status, t.vintages,
             last.vintage AS last_vintage, last.artificialised_share AS artificialised_share_last,
             fl.net_m2 / 1e4 AS net_artificialisation_ha, en.consumption_m2 / 1e4 AS enaf_consumption_ha
      FROM territory t LEFT JOIN last USING (level, code) LEFT JOIN fl USING (level, code) LEFT JOIN en USING (level, code)`);
  } finally {
    conn.closeSync();
    instance.closeSync();
  }
  const toLonLat = new gdal.CoordinateTransformation(gdal.SpatialReference.fromEPSG(2154), gdal.SpatialReference.fromUserInput('OGC:CRS84'));
  const c = toLonLat.transformPoint(ORIGIN_X + (cells * cellM) / 2, ORIGIN_Y + (cells * cellM) / 2);
  return { stockM2, pieces: cells * cells, centre: [c.x, c.y] };
}

function sqlString(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}
