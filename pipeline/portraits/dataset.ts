/**
 * Reads everything the portraits need from `ocs.duckdb` in one query per table, grouped in memory by
 * territory, so rendering 500 portraits costs no more queries than rendering one.
 *
 * @example const data = await loadPortraitDataset(connection);
 */
import type { DuckDBConnection } from '@duckdb/node-api';
import { TERRITORY_LEVELS_TOP_DOWN, type TerritoryLevel } from '../core/territory-levels.js';


export type Value = string | number | boolean | null;
export type Row = Record<string, Value | Value[]>;

export const territoryKey = (level: string, code: string): string => `${level}\t${code}`;

export interface TerritoryInfo {
  level: TerritoryLevel;
  code: string;
  name: string;
  areaM2: number;
  coverageStatus: string;
  vintages: string;
}

export interface PortraitDataset {
  /** Sorted by level (region first) then code. */
  territories: TerritoryInfo[];
  byKey: Map<string, TerritoryInfo>;
  /** `portrait_territory` rows. */
  portrait: Map<string, Row>;
  /** Commune code → every (level, code) it belongs to. */
  membershipOfCommune: Map<string, Array<{ level: TerritoryLevel; code: string }>>;
  /** Territory key → its commune codes. */
  communesOf: Map<string, string[]>;
  stock: Map<string, Row[]>;
  stockSummary: Map<string, Row[]>;
  artifFlux: Map<string, Row[]>;
  /** artif_flux_detail summed by (period, direction, axis 'cs'/'us', class_code). */
  fluxDetail: Map<string, Row[]>;
  impermFlux: Map<string, Row[]>;
  enafConsumption: Map<string, Row[]>;
  enafSummary: Map<string, Row[]>;
  trajectory: Map<string, Row>;
  /** check_ign_difference rows, largest gap first (empty without IGN difference products or in older databases). */
  ignCheck: Map<string, Row[]>;
  /** Cerema total consumption per year (consumption_cerema, destination total), by territory; empty without one. */
  ceremaAnnual: Map<string, Row[]>;
  /** OCS vs Cerema consumption per OCS period (consumption_comparison), by territory. */
  comparison: Map<string, Row[]>;
  categories: Array<{ category: number; label: string; artificialised: boolean }>;
  /** OCS GE couverture and usage labels by code (empty for databases written before nomenclature_code existed). */
  codeLabels: Map<string, string>;
  /**
   * Territory key → vintage label → the real years of its communes behind that label, from `vintage_year`
   * (written with --vintage-years; empty without it, the labels then being the years).
   */
  photoYears: Map<string, Map<number, number[]>>;
  metadata: Map<string, string>;
  wkb: Map<string, Uint8Array>;
}

/** Tables the portraits read; checked before any work. */
export const REQUIRED_TABLES = [
  'territory', 'membership', 'stock', 'stock_summary', 'artif_flux', 'artif_flux_detail', 'imperm_flux',
  'enaf_consumption', 'enaf_summary', 'trajectory', 'run_metadata', 'nomenclature_category',
] as const;

function toValue(value: unknown): Value | Value[] {
  if (typeof value === 'bigint') return Number(value);
  if (Array.isArray(value)) return value.map((v) => toValue(v) as Value);
  if (value === undefined) return null;
  return value as Value;
}

async function rows(connection: DuckDBConnection, sql: string): Promise<Row[]> {
  const reader = await connection.runAndReadAll(sql);
  return reader.getRowObjectsJS().map((row) => Object.fromEntries(Object.entries(row).map(([k, v]) => [k, toValue(v)])));
}

function group(list: Row[]): Map<string, Row[]> {
  const map = new Map<string, Row[]>();
  for (const row of list) {
    const key = territoryKey(String(row.level), String(row.code));
    const bucket = map.get(key);
    if (bucket) bucket.push(row);
    else map.set(key, [row]);
  }
  return map;
}

export const num = (row: Row | undefined, column: string): number | null => {
  const v = row?.[column];
  return typeof v === 'number' ? v : null;
};

export const levelRank = (level: string): number => TERRITORY_LEVELS_TOP_DOWN.indexOf(level as TerritoryLevel);

export async function loadPortraitDataset(connection: DuckDBConnection): Promise<PortraitDataset> {
  const territoryRows = await rows(connection, 'SELECT level, code, name, area_m2, coverage_status, vintages FROM territory');
  const territories: TerritoryInfo[] = territoryRows
    .filter((r) => levelRank(String(r.level)) >= 0)
    .map((r) => ({
      level: r.level as TerritoryLevel,
      code: String(r.code),
      name: String(r.name ?? r.code),
      areaM2: Number(r.area_m2),
      coverageStatus: String(r.coverage_status ?? ''),
      vintages: Array.isArray(r.vintages) ? r.vintages.join(', ') : String(r.vintages ?? ''),
    }))
    .sort((a, b) => levelRank(a.level) - levelRank(b.level) || a.code.localeCompare(b.code));
  const wkbReader = await connection.runAndReadAll('SELECT level, code, ST_AsWKB(geom) AS wkb FROM territory WHERE geom IS NOT NULL');
  const wkb = new Map<string, Uint8Array>();
  for (const r of wkbReader.getRowObjectsJS()) wkb.set(territoryKey(String(r.level), String(r.code)), r.wkb as unknown as Uint8Array);

  const membershipOfCommune = new Map<string, Array<{ level: TerritoryLevel; code: string }>>();
  const communesOf = new Map<string, string[]>();
  for (const r of await rows(connection, 'SELECT commune_code, level, code FROM membership ORDER BY commune_code, level, code')) {
    const commune = String(r.commune_code);
    const entry = { level: r.level as TerritoryLevel, code: String(r.code) };
    membershipOfCommune.set(commune, [...(membershipOfCommune.get(commune) ?? []), entry]);
    const key = territoryKey(entry.level, entry.code);
    const list = communesOf.get(key);
    if (list) list.push(commune);
    else communesOf.set(key, [commune]);
  }

  const portrait = new Map<string, Row>();
  for (const r of await rows(connection, 'SELECT * FROM portrait_territory')) portrait.set(territoryKey(String(r.level), String(r.code)), r);
  const hasCodeTable = (await rows(connection, `SELECT 1 FROM duckdb_tables() WHERE table_name = 'nomenclature_code'`)).length > 0;
  const codeLabels = new Map<string, string>();
  if (hasCodeTable) for (const r of await rows(connection, 'SELECT code, label FROM nomenclature_code')) codeLabels.set(String(r.code), String(r.label));
  const hasIgnCheck = (await rows(connection, `SELECT 1 FROM duckdb_tables() WHERE table_name = 'check_ign_difference'`)).length > 0;
  const ignCheck = hasIgnCheck ? group(await rows(connection, 'SELECT * FROM check_ign_difference ORDER BY abs(diff_m2) DESC, period, measure')) : new Map<string, Row[]>();
  const photoYears = new Map<string, Map<number, number[]>>();
  const hasYearTable = (await rows(connection, `SELECT 1 FROM duckdb_tables() WHERE table_name = 'vintage_year'`)).length > 0;
  if (hasYearTable) {
    const yearRows = await rows(
      connection,
      `SELECT m.level, m.code, v.vintage, list(DISTINCT v.year ORDER BY v.year) AS years
       FROM vintage_year v JOIN membership m USING (commune_code) GROUP BY ALL ORDER BY ALL`,
    );
    for (const r of yearRows) {
      const key = territoryKey(String(r.level), String(r.code));
      const byVintage = photoYears.get(key) ?? new Map<number, number[]>();
      byVintage.set(Number(r.vintage), (r.years as Value[]).map(Number));
      photoYears.set(key, byVintage);
    }
  }
  const trajectory = new Map<string, Row>();
  for (const r of await rows(connection, 'SELECT * FROM trajectory')) trajectory.set(territoryKey(String(r.level), String(r.code)), r);
  // Databases written before the Cerema import have neither table.
  const hasCerema = (await rows(connection, `SELECT 1 FROM duckdb_tables() WHERE table_name = 'consumption_cerema'`)).length > 0;

  return {
    territories,
    byKey: new Map(territories.map((t) => [territoryKey(t.level, t.code), t])),
    portrait,
    membershipOfCommune,
    communesOf,
    stock: group(await rows(connection, 'SELECT level, code, vintage, category, area_m2 FROM stock ORDER BY vintage, category')),
    stockSummary: group(await rows(connection, 'SELECT * FROM stock_summary ORDER BY vintage_rank')),
    artifFlux: group(await rows(connection, 'SELECT * FROM artif_flux ORDER BY to_rank - from_rank, from_rank')),
    fluxDetail: group(
      await rows(
        connection,
        `SELECT level, code, from_vintage, to_vintage, direction,
           CASE WHEN grouping(to_cs) = 0 THEN 'cs' ELSE 'us' END AS axis,
           CASE WHEN grouping(to_cs) = 0 THEN to_cs ELSE to_us END AS class_code,
           sum(area_m2) AS area_m2
         FROM artif_flux_detail
         GROUP BY GROUPING SETS ((level, code, from_vintage, to_vintage, direction, to_cs), (level, code, from_vintage, to_vintage, direction, to_us))
         ORDER BY axis, class_code, direction`,
      ),
    ),
    impermFlux: group(await rows(connection, 'SELECT * FROM imperm_flux ORDER BY to_vintage - from_vintage, from_vintage')),
    enafConsumption: group(await rows(connection, 'SELECT * FROM enaf_consumption ORDER BY to_vintage - from_vintage, from_vintage, destination')),
    enafSummary: group(await rows(connection, 'SELECT * FROM enaf_summary ORDER BY to_vintage - from_vintage, from_vintage')),
    trajectory,
    ignCheck,
    ceremaAnnual: hasCerema ? group(await rows(connection, `SELECT * FROM consumption_cerema WHERE destination = 'total' ORDER BY year`)) : new Map(),
    comparison: hasCerema ? group(await rows(connection, 'SELECT * FROM consumption_comparison ORDER BY to_vintage - from_vintage, from_vintage')) : new Map(),
    categories: (await rows(connection, 'SELECT category, label, artificialised FROM nomenclature_category ORDER BY category')).map((r) => ({
      category: Number(r.category),
      label: String(r.label),
      artificialised: Boolean(r.artificialised),
    })),
    codeLabels,
    photoYears,
    metadata: new Map((await rows(connection, 'SELECT key, value FROM run_metadata ORDER BY key')).map((r) => [String(r.key), String(r.value)])),
    wkb,
  };
}
