/**
 * Builds a small `ocs.duckdb` following docs/OUTPUT_SCHEMA.md from real commune boundaries
 * (../shared/data/communes-grand-est-2018) and deterministic synthetic indicators, for the portrait
 * tests and bench until `ocs-zan run` output exists. Higher levels are sums of communes, as in the real DB.
 * To re-point the tests at a real run, pass its DB path instead of calling `createPortraitDb`.
 *
 * @example await createPortraitDb('/tmp/ocs.duckdb', { departement: '55', communes: 12 });
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { DuckDBInstance, type DuckDBAppender, type DuckDBConnection } from '@duckdb/node-api';
import gdal from 'gdal-async';
import { mulberry32 } from '../../fixtures/prng.js';
import { PROJECT_ROOT } from '../../pipeline/paths.js';
import { DESTINATIONS } from '../../pipeline/types.js';

export const SHARED_DATA = path.join(PROJECT_ROOT, '..', 'shared');
export const VINTAGES = [2018, 2021, 2024] as const;

const DEP_FILES: Record<string, string> = { '55': 'communes-55-meuse.geojson', '67': 'communes-67-bas-rhin.geojson', '68': 'communes-68-haut-rhin.geojson' };

export interface PortraitDbOptions {
  departement?: string;
  /** Number of communes, the nearest to the first commune by code (all of the département when omitted). */
  communes?: number;
  /** Communes per EPCI. */
  epciSize?: number;
}

export interface PortraitDbSummary {
  communes: number;
  territories: number;
}


const SCHEMA = `
CREATE TABLE territory (level VARCHAR, code VARCHAR, name VARCHAR, area_m2 DOUBLE, coverage_status VARCHAR, vintages VARCHAR, geom GEOMETRY);
CREATE TABLE territory_wkb (level VARCHAR, code VARCHAR, name VARCHAR, area_m2 DOUBLE, coverage_status VARCHAR, vintages VARCHAR, wkb BLOB);
CREATE TABLE membership (commune_code VARCHAR, level VARCHAR, code VARCHAR);
CREATE TABLE nomenclature_category (category INTEGER, label VARCHAR, artificialised BOOLEAN);
CREATE TABLE stock (level VARCHAR, code VARCHAR, vintage INTEGER, category INTEGER, area_m2 DOUBLE);
CREATE TABLE stock_summary (level VARCHAR, code VARCHAR, vintage INTEGER, vintage_rank INTEGER, covered_m2 DOUBLE, uncovered_m2 DOUBLE, artificialised_m2 DOUBLE, artificialised_share DOUBLE, sealed_m2 DOUBLE, years_combined VARCHAR);
CREATE TABLE artif_flux (level VARCHAR, code VARCHAR, from_vintage INTEGER, to_vintage INTEGER, from_rank INTEGER, to_rank INTEGER, artificialisation_m2 DOUBLE, desartificialisation_m2 DOUBLE, net_m2 DOUBLE, years DOUBLE, artificialisation_m2_per_year DOUBLE, desartificialisation_m2_per_year DOUBLE, net_m2_per_year DOUBLE, net_share_of_area DOUBLE, years_combined VARCHAR);
CREATE TABLE artif_flux_detail (level VARCHAR, code VARCHAR, from_vintage INTEGER, to_vintage INTEGER, direction VARCHAR, from_cs VARCHAR, to_cs VARCHAR, from_us VARCHAR, to_us VARCHAR, area_m2 DOUBLE);
CREATE TABLE imperm_flux (level VARCHAR, code VARCHAR, from_vintage INTEGER, to_vintage INTEGER, impermeabilisation_m2 DOUBLE, desimpermeabilisation_m2 DOUBLE, net_m2 DOUBLE, years DOUBLE);
CREATE TABLE enaf_consumption (level VARCHAR, code VARCHAR, from_vintage INTEGER, to_vintage INTEGER, destination VARCHAR, area_m2 DOUBLE, area_m2_per_year DOUBLE, years DOUBLE);
CREATE TABLE enaf_summary (level VARCHAR, code VARCHAR, from_vintage INTEGER, to_vintage INTEGER, consumption_m2 DOUBLE, renaturation_m2 DOUBLE, consumption_m2_per_year DOUBLE, consumption_share_of_area DOUBLE, years DOUBLE);
CREATE TABLE transition (level VARCHAR, code VARCHAR, from_vintage INTEGER, to_vintage INTEGER, from_category INTEGER, to_category INTEGER, area_m2 DOUBLE);
CREATE TABLE trajectory (level VARCHAR, code VARCHAR, reference_period VARCHAR, reference_rate_m2_per_year DOUBLE, reference_2011_2020_m2 DOUBLE, ceiling_2021_2031_m2 DOUBLE, floor_applied_communes INTEGER, observed_period VARCHAR, projection_2021_2031_m2 DOUBLE, on_track BOOLEAN, measure VARCHAR);
CREATE TABLE run_metadata (key VARCHAR, value VARCHAR);
`;

type Cell = string | number | boolean | null;

/** Appends rows whose cell types are spelled by `types`: v varchar, i integer, d double, b boolean, x blob. */
function appendRows(appender: DuckDBAppender, types: string, rows: Array<Array<Cell | Uint8Array>>): void {
  for (const row of rows) {
    row.forEach((value, i) => {
      if (value === null) return appender.appendNull();
      switch (types[i]) {
        case 'v':
          return appender.appendVarchar(String(value));
        case 'i':
          return appender.appendInteger(value as number);
        case 'd':
          return appender.appendDouble(value as number);
        case 'b':
          return appender.appendBoolean(value as boolean);
        case 'x':
          return appender.appendBlob(value as Uint8Array);
        default:
          throw new Error(`bad type ${types[i]}`);
      }
    });
    appender.endRow();
  }
  appender.closeSync();
}

async function append(connection: DuckDBConnection, table: string, types: string, rows: Array<Array<Cell | Uint8Array>>): Promise<void> {
  appendRows(await connection.createAppender(table), types, rows);
}

interface CommuneFigures {
  code: string;
  area: number;
  stock: number[][]; // [vintage index][category 1..10 at index 1..10]
  flux: Array<{ artif: number; desartif: number }>; // consecutive periods
  imperm: Array<{ up: number; down: number }>;
  enaf: Array<Record<string, number>>; // per consecutive period, by destination
  renaturation: number[];
}

/** Creates `dbPath` (which must not exist) and returns how many communes and territories it holds. */
export async function createPortraitDb(dbPath: string, options: PortraitDbOptions = {}): Promise<PortraitDbSummary> {
  const dep = options.departement ?? '55';
  const epciSize = options.epciSize ?? 6;
  const source = await gdal.openAsync(path.join(SHARED_DATA, 'data', 'communes-grand-est-2018', DEP_FILES[dep]!));
  const toL93 = new gdal.CoordinateTransformation(gdal.SpatialReference.fromEPSG(4326), gdal.SpatialReference.fromEPSG(2154));
  let communes: Array<{ code: string; name: string; geom: gdal.Geometry }> = [];
  for (const feature of source.layers.get(0).features) {
    const geom = feature.getGeometry()!.clone();
    // GeoJSON is lon/lat; GDAL 3 honours the EPSG:4326 lat/lon axis order unless told otherwise.
    geom.swapXY();
    geom.transform(toL93);
    communes.push({ code: String(feature.fields.get('code')), name: String(feature.fields.get('nom')), geom });
  }
  source.close();
  communes.sort((a, b) => a.code.localeCompare(b.code));
  if (options.communes !== undefined) {
    const origin = communes[0]!.geom.centroid();
    const distance = (g: gdal.Geometry): number => g.centroid().distance(origin);
    communes = communes
      .map((c) => ({ c, d: distance(c.geom) }))
      .sort((a, b) => a.d - b.d)
      .slice(0, options.communes)
      .map(({ c }) => c)
      .sort((a, b) => a.code.localeCompare(b.code));
  }

  const rnd = mulberry32(Number(dep) * 7919 + communes.length);
  const figures: CommuneFigures[] = communes.map((c) => {
    const area = (c.geom as gdal.Polygon).getArea();
    const artifShare = 0.03 + rnd() * 0.12;
    const weights = [0, 0.35, 0.3, 0.1, 0.2, 0.05].map((w) => w * artifShare);
    const natural = [0.02 + rnd() * 0.03, 0.4 + rnd() * 0.2, 0.15 + rnd() * 0.2, 0.03 + rnd() * 0.05, 0.02];
    const naturalSum = natural.reduce((s, v) => s + v, 0);
    const base = [0, ...weights.slice(1), ...natural.map((v) => (v / naturalSum) * (1 - artifShare))];
    const flux = VINTAGES.slice(1).map(() => ({ artif: area * rnd() * 0.004, desartif: area * rnd() * 0.0008 }));
    const stock: number[][] = [];
    let artifGain = 0;
    VINTAGES.forEach((_, v) => {
      if (v > 0) artifGain += flux[v - 1]!.artif - flux[v - 1]!.desartif;
      const row = base.map((share) => share * area);
      // Net artificialisation moves area from crops (7) to built/sealed (1, 2).
      row[1]! += artifGain * 0.6;
      row[2]! += artifGain * 0.4;
      row[7]! -= artifGain;
      stock.push(row);
    });
    const enaf = flux.map((f) => Object.fromEntries(DESTINATIONS.map((d, i) => [d, f.artif * [0.45, 0.2, 0.05, 0.15, 0.03, 0.02, 0.1][i]! * (0.8 + rnd() * 0.2)])));
    return {
      code: c.code,
      area,
      stock,
      flux,
      imperm: flux.map((f) => ({ up: f.artif * 0.7, down: f.desartif * 0.5 })),
      enaf,
      renaturation: flux.map((f) => f.desartif * 0.6),
    };
  });

  // Membership: EPCIs of `epciSize` consecutive codes, one SCoT over the first half, one département and région.
  const membership: Array<[string, string, string]> = [];
  communes.forEach((c, i) => {
    membership.push([c.code, 'commune', c.code]);
    membership.push([c.code, 'epci', `2455${dep}${String(Math.floor(i / epciSize) + 1).padStart(3, '0')}`]);
    if (i < communes.length / 2) membership.push([c.code, 'scot', `SCOT-${dep}-NORD`]);
    membership.push([c.code, 'departement', dep]);
    membership.push([c.code, 'region', '44']);
  });
  const names = new Map<string, string>([['departement', 'Meuse'], ['region', 'Grand Est']]);
  const territoryName = (level: string, code: string): string =>
    level === 'commune'
      ? communes.find((c) => c.code === code)!.name
      : level === 'epci'
        ? `Communauté de communes n° ${Number(code.slice(-3))} « ${dep} »`
        : level === 'scot'
          ? `SCoT du Nord ${dep}`
          : (names.get(level) ?? code);

  const byTerritory = new Map<string, { level: string; code: string; members: CommuneFigures[]; geoms: gdal.Geometry[] }>();
  for (const [communeCode, level, code] of membership) {
    const key = `${level}\t${code}`;
    const entry = byTerritory.get(key) ?? { level, code, members: [], geoms: [] };
    const index = communes.findIndex((c) => c.code === communeCode);
    entry.members.push(figures[index]!);
    entry.geoms.push(communes[index]!.geom);
    byTerritory.set(key, entry);
  }

  const instance = await DuckDBInstance.create(dbPath);
  const connection = await instance.connect();
  try {
    await connection.run(SCHEMA);
    const categories = readFileSync(path.join(SHARED_DATA, 'reference', 'lcr-2023-categories.csv'), 'utf8').trim().split('\n').slice(1);
    const labels = ['Bâti', 'Revêtu', 'Stabilisé ou minéral', 'Herbacé à usage artificiel', 'En chantier ou abandonné', 'Sols nus naturels, eau', 'Cultures', 'Sylviculture', 'Habitats naturels', 'Autres surfaces végétalisées'];
    await append(connection, 'nomenclature_category', 'ivb', categories.map((line) => {
      const [num, status] = line.split(',');
      return [Number(num), labels[Number(num) - 1]!, status === 'artificialisee'];
    }));
    await append(connection, 'membership', 'vvv', membership);

    const rows: Record<string, Array<Array<Cell | Uint8Array>>> = {
      territory_wkb: [], stock: [], stock_summary: [], artif_flux: [], artif_flux_detail: [], imperm_flux: [],
      enaf_consumption: [], enaf_summary: [], trajectory: [], transition: [],
    };
    const periods: Array<[number, number]> = [[0, 1], [1, 2], [0, 2]];
    const sorted = [...byTerritory.values()].sort((a, b) => (a.level + a.code).localeCompare(b.level + b.code));
    for (const t of sorted) {
      const { level, code, members } = t;
      const area = members.reduce((s, m) => s + m.area, 0);
      const geom = t.geoms.length === 1 ? t.geoms[0]! : (() => {
        const multi = new gdal.MultiPolygon();
        for (const g of t.geoms) {
          if (g instanceof gdal.MultiPolygon) for (const part of g.children) multi.children.add(part);
          else multi.children.add(g);
        }
        return multi.unionCascaded();
      })();
      rows.territory_wkb!.push([level, code, territoryName(level, code), area, 'complete_uniform', VINTAGES.join(', '), geom.toWKB()]);
      VINTAGES.forEach((vintage, v) => {
        const cats = Array.from({ length: 11 }, (_, cat) => members.reduce((s, m) => s + m.stock[v]![cat]!, 0));
        for (let cat = 1; cat <= 10; cat++) rows.stock!.push([level, code, vintage, cat, cats[cat]!]);
        const artificialised = cats.slice(1, 6).reduce((s, x) => s + x, 0);
        rows.stock_summary!.push([level, code, vintage, v + 1, area, 0, artificialised, artificialised / area, cats[1]! + cats[2]!, `${vintage} (${dep})`]);
      });
      for (const [a, b] of periods) {
        const [from, to] = [VINTAGES[a]!, VINTAGES[b]!];
        const years = to - from;
        const sum = (pick: (m: CommuneFigures, p: number) => number): number =>
          members.reduce((s, m) => s + Array.from({ length: b - a }, (_, k) => pick(m, a + k)).reduce((x, y) => x + y, 0), 0);
        const artif = sum((m, p) => m.flux[p]!.artif);
        const desartif = sum((m, p) => m.flux[p]!.desartif);
        rows.artif_flux!.push([level, code, from, to, a + 1, b + 1, artif, desartif, artif - desartif, years, artif / years, desartif / years, (artif - desartif) / years, (artif - desartif) / area, `${from}→${to} (${dep})`]);
        const detail: Array<[string, string, string, string, string, number]> = [
          ['artificialisation', 'CS2.2.1', 'CS1.1.1.1', 'US1.1', 'US5', 0.5],
          ['artificialisation', 'CS2.2.1', 'CS1.1.1.2', 'US1.1', 'US4.1.1', 0.3],
          ['artificialisation', 'CS2.1.1.1', 'CS1.1.2.1', 'US1.2', 'US2', 0.2],
          ['desartificialisation', 'CS1.1.2.1', 'CS2.2.1', 'US6.2', 'US1.1', 0.7],
          ['desartificialisation', 'CS1.1.1.2', 'CS2.1.1.1', 'US6.2', 'US6.3', 0.3],
        ];
        for (const [direction, fromCs, toCs, fromUs, toUs, share] of detail) {
          rows.artif_flux_detail!.push([level, code, from, to, direction, fromCs, toCs, fromUs, toUs, (direction === 'artificialisation' ? artif : desartif) * share]);
        }
        const up = sum((m, p) => m.imperm[p]!.up);
        const down = sum((m, p) => m.imperm[p]!.down);
        rows.imperm_flux!.push([level, code, from, to, up, down, up - down, years]);
        let consumption = 0;
        for (const d of DESTINATIONS) {
          const value = sum((m, p) => m.enaf[p]![d]!);
          consumption += value;
          rows.enaf_consumption!.push([level, code, from, to, d, value, value / years, years]);
        }
        const renaturation = sum((m, p) => m.renaturation[p]!);
        rows.enaf_summary!.push([level, code, from, to, consumption, renaturation, consumption / years, consumption / area, years]);
        rows.transition!.push([level, code, from, to, 7, 1, artif * 0.6]);
        if (a === 0 && b === 2) {
          // Reference decade estimated at 1.3× the observed rate; ceiling = half of it with the 1 ha floor per commune.
          const ceilings = members.map((m) => {
            const rate = m.enaf.reduce((s, p) => s + Object.values(p).reduce((x, y) => x + y, 0), 0) / years;
            return { ceiling: Math.max(rate * 1.3 * 10 * 0.5, 10_000), floored: rate * 1.3 * 10 * 0.5 < 10_000 };
          });
          const rate = (consumption / years) * 1.3;
          const ceiling = ceilings.reduce((s, c) => s + c.ceiling, 0);
          const projection = (consumption / years) * 10;
          rows.trajectory!.push([level, code, '2011-2020 (estimé)', rate, rate * 10, ceiling, ceilings.filter((c) => c.floored).length, `${from}→${to}`, projection, projection <= ceiling, 'measured from OCS, not the official Cerema land-tax figure']);
        }
      }
    }
    await append(connection, 'territory_wkb', 'vvvdvvx', rows.territory_wkb!);
    await connection.run(`INSERT INTO territory SELECT level, code, name, area_m2, coverage_status, vintages, ST_GeomFromWKB(wkb) FROM territory_wkb; DROP TABLE territory_wkb;`);
    await append(connection, 'stock', 'vviid', rows.stock!);
    await append(connection, 'stock_summary', 'vviidddddv', rows.stock_summary!);
    await append(connection, 'artif_flux', 'vviiiiddddddddv', rows.artif_flux!);
    await append(connection, 'artif_flux_detail', 'vviivvvvvd', rows.artif_flux_detail!);
    await append(connection, 'imperm_flux', 'vviidddd', rows.imperm_flux!);
    await append(connection, 'enaf_consumption', 'vviivddd', rows.enaf_consumption!);
    await append(connection, 'enaf_summary', 'vviiddddd', rows.enaf_summary!);
    await append(connection, 'transition', 'vviiiid', rows.transition!);
    await append(connection, 'trajectory', 'vvvdddivdbv', rows.trajectory!);
    await append(connection, 'run_metadata', 'vv', [
      ['nomenclature_version', 'ocsge-cs-us → décret 2023-1096 (test)'],
      ['tool_version', '0.1.0'],
    ]);
    return { communes: communes.length, territories: sorted.length };
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}
