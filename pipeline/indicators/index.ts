import { existsSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import type { DuckDBConnection } from '@duckdb/node-api';
import { inStage, UserError } from '../core/errors.js';
import { AtomicOutput } from '../core/atomic-output.js';
import { unionMembers } from '../core/polygons.js';
import { appendRows, openDuckDB } from '../core/duckdb.js';
import { silentLogger, type Logger } from '../core/log.js';
import { LAMBERT93_PROJJSON_PATH } from '../core/paths.js';
import { sqlList, sqlString } from '../core/sql.js';
import { TOOL_VERSION } from '../core/version.js';
import type { VintageYearTable } from '../../nomenclature/vintage-years.js';
import { applyComments, BASE_COMMENTS, VINTAGE_YEAR_COMMENTS } from './comments.js';
import { fallbackLine, writeVintageYears, type VintageYearFallback } from './real-years.js';
import { runIndicatorSql, type IndicatorOptions } from './run-sql.js';
import { TERRITORY_LEVELS, type TerritoryLevel } from '../core/territory-levels.js';
import { ignAreasByCommune, loadIgnAreas } from './ign-difference.js';
import type { IgnDifferenceSource } from '../core/types.js';
import type { CeremaRow } from '../cerema/index.js';
import type { PlanningDocumentRow, TargetRow } from './trajectory-inputs.js';

/**
 * Output database stage: loads pieces, classes, territories and the nomenclature into `OUT/ocs.duckdb`,
 * then computes the indicators (the SQL files of indicators/sql/, run by run-sql.ts). Schema: docs/OUTPUT_SCHEMA.md.
 *
 * The file is built at a temporary sibling path and renamed into place when complete (AtomicOutput).
 *
 * @example
 * await computeIndicators({
 *   dbPath: 'OUT/ocs.duckdb', pieceParquet: 'work/piece.parquet', pieceClassParquet: 'work/piece_class.parquet',
 *   territories, nomenclature: loadNomenclature(), runMetadata: { inputs: '…' },
 * });
 */


/**
 * What the territories stage hands over: `Territories` of pipeline/territories/index.ts fits as is, and
 * `territoryGeometries(territories)` as `unions` (extra fields are ignored).
 */
export interface OutputTerritories {
  communes: ReadonlyArray<{ code: string; name: string; departement: string; geomWkb: Uint8Array; area_m2: number }>;
  /** Membership rows for the levels above the commune (commune rows are added here). */
  levels: ReadonlyArray<{ commune_code: string; level: TerritoryLevel; code: string; name: string }>;
  /** Higher-level geometry (union of member communes); computed with GEOS when missing. */
  unions?: ReadonlyArray<{ level: TerritoryLevel; code: string; geomWkb: Uint8Array }>;
}

/** `loadNomenclature()` of nomenclature/loader.ts fits as is. */
export interface OutputNomenclature {
  version: string;
  categories: ReadonlyArray<{ num: number; label: string; artificialised: boolean }>;
  /** OCS GE code trees, so that analysts and portraits can label CS/US codes. */
  couverture: ReadonlyMap<string, { code: string; parent: string | null; label: string }>;
  usage: ReadonlyMap<string, { code: string; parent: string | null; label: string }>;
}

export interface IndicatorsInput {
  dbPath: string;
  /** One Parquet file or the parts of one (same schema). */
  pieceParquet: string | string[];
  pieceClassParquet: string | string[];
  territories: OutputTerritories;
  nomenclature: OutputNomenclature;
  /** Recorded as `run_metadata` rows (inputs with sha256, options, timings…). */
  runMetadata: Record<string, string>;
  /** IGN difference layers of `--ocsge` deliveries, compared with our changes in `check_ign_difference`. */
  ignDifferences?: readonly IgnDifferenceSource[];
  /** Real years of the nominal vintages (`--vintage-years`); without it the labels are the years. */
  vintageYears?: VintageYearTable;
  /** What the trajectory reads besides the pieces (pipeline/cerema/, trajectory-inputs.ts); null = not given. */
  trajectory?: { cerema: CeremaRow[] | null; targets: TargetRow[]; planningDocuments: PlanningDocumentRow[] | null };
  indicators?: Omit<IndicatorOptions, 'cerema' | 'planningDocuments'>;
  logger?: Logger;
}

export interface IndicatorsOutput {
  dbPath: string;
  rows: Record<string, number>;
  /** Communes whose vintage has no row in the year table, by département and vintage (empty without a table). */
  vintageYearFallbacks: VintageYearFallback[];
  seconds: number;
}

/** Minified Lambert-93 PROJJSON, the CRS of every GEOMETRY column. */
export const LAMBERT93_PROJJSON: string = JSON.stringify(JSON.parse(readFileSync(LAMBERT93_PROJJSON_PATH, 'utf8')));
const CRS = sqlString(LAMBERT93_PROJJSON);
export const GEOMETRY_TYPE = `GEOMETRY(${CRS})`;

const PIECE_COLUMNS = ['piece_id', 'commune_code', 'area_m2', 'geom'];
const PIECE_CLASS_COLUMNS = ['piece_id', 'vintage', 'code_cs', 'code_us', 'category', 'artificialised', 'artif_rule', 'sealed', 'enaf', 'destination'];

const asList = (files: string | string[]): string[] => (Array.isArray(files) ? files : [files]);

/** Builds the output database at `dbPath` (overwritten if present: the caller owns the output directory). */
export async function computeIndicators(input: IndicatorsInput): Promise<IndicatorsOutput> {
  return inStage('indicators', undefined, () => buildOutputDb(input));
}

async function buildOutputDb(input: IndicatorsInput): Promise<IndicatorsOutput> {
  const started = performance.now();
  const logger = input.logger ?? silentLogger;
  const pieceFiles = asList(input.pieceParquet);
  const classFiles = asList(input.pieceClassParquet);
  for (const file of [...pieceFiles, ...classFiles]) {
    if (!existsSync(file)) throw new UserError('Parquet file not found', { file, remedy: 'run the overlay stage first' });
  }
  if (input.territories.communes.length === 0) throw new UserError('no communes to compute indicators for');

  // The caller owns the output directory: the database is replaced whole, never left half-written.
  return AtomicOutput.write(input.dbPath, { force: true }, async (tempPath) => {
    // The latest storage format is the one that keeps the CRS of GEOMETRY columns across a reopen.
    const instance = await openDuckDB(tempPath, { storage_compatibility_version: 'latest' });
    const connection = await instance.connect();
    try {
      await writeTerritoryTables(connection, input.territories);
      await loadPieces(connection, pieceFiles, classFiles);
      const fallbacks = await writeVintageYears(connection, input.vintageYears);
      for (const fallback of fallbacks) logger.warn(`vintage-years: ${fallbackLine(fallback)}`);
      await loadNomenclatureAndMetadata(connection, input, fallbacks);
      await loadIgnAreas(connection, ignAreasByCommune(input.ignDifferences ?? [], input.territories.communes));
      const trajectory = input.trajectory ?? { cerema: null, targets: [], planningDocuments: null };
      await loadTrajectoryInputs(connection, trajectory);
      logger.info('indicators: computing');
      await runIndicatorSql(connection, { ...input.indicators, cerema: trajectory.cerema !== null, planningDocuments: trajectory.planningDocuments !== null });
      await applyComments(connection, input.vintageYears ? { ...BASE_COMMENTS, ...VINTAGE_YEAR_COMMENTS } : BASE_COMMENTS);
      const rows: Record<string, number> = {};
      const reader = await connection.runAndReadAll(
        `SELECT table_name, estimated_size FROM duckdb_tables() WHERE NOT temporary ORDER BY table_name`,
      );
      for (const [name, count] of reader.getRows() as Array<[string, bigint]>) rows[name] = Number(count);
      await connection.run('CHECKPOINT');
      return { dbPath: input.dbPath, rows, vintageYearFallbacks: fallbacks, seconds: (performance.now() - started) / 1000 };
    } finally {
      connection.closeSync();
      instance.closeSync();
      await rm(`${tempPath}.wal`, { force: true });
    }
  });
}

/** The trajectory inputs as temp tables, empty when not given (the SQL reads them either way). */
async function loadTrajectoryInputs(connection: DuckDBConnection, inputs: NonNullable<IndicatorsInput['trajectory']>): Promise<void> {
  await connection.run(`CREATE TEMP TABLE _cerema_in (commune_code VARCHAR, year INTEGER, destination VARCHAR, area_m2 DOUBLE)`);
  await connection.run(`CREATE TEMP TABLE _targets_in (level VARCHAR, code VARCHAR, reduction_target DOUBLE, document VARCHAR)`);
  await connection.run(`CREATE TEMP TABLE _planning_in (commune_code VARCHAR, document VARCHAR, eligible BOOLEAN)`);
  await appendRows(connection, '_cerema_in', (inputs.cerema ?? []).map((r) => [r.commune_code, r.year, r.destination, r.area_m2]));
  await appendRows(connection, '_targets_in', inputs.targets.map((r) => [r.level, r.code, r.reductionTarget, r.document]));
  await appendRows(connection, '_planning_in', (inputs.planningDocuments ?? []).map((r) => [r.communeCode, r.document, r.eligible]));
}

async function writeTerritoryTables(connection: DuckDBConnection, territories: OutputTerritories): Promise<void> {
  await connection.run(`CREATE TEMP TABLE _communes_in (code VARCHAR, name VARCHAR, departement VARCHAR, area_m2 DOUBLE, wkb BLOB)`);
  await connection.run(`CREATE TEMP TABLE _levels_in (commune_code VARCHAR, level VARCHAR, code VARCHAR, name VARCHAR)`);
  await connection.run(`CREATE TEMP TABLE _unions_in (level VARCHAR, code VARCHAR, wkb BLOB)`);
  await appendRows(connection, '_communes_in', territories.communes.map((c) => [c.code, c.name, c.departement, c.area_m2, c.geomWkb]));
  const aboveCommune = territories.levels.filter((row) => row.level !== 'commune');
  const unknownLevel = aboveCommune.find((row) => !TERRITORY_LEVELS.includes(row.level));
  if (unknownLevel) throw new Error(`unknown territory level ${unknownLevel.level}`);
  await appendRows(connection, '_levels_in', aboveCommune.map((row) => [row.commune_code, row.level, row.code, row.name]));
  await appendRows(connection, '_unions_in', unionGeometries(territories).map((row) => [row.level, row.code, row.geomWkb]));

  const unknown = await connection.runAndReadAll(
    `SELECT min(commune_code) FROM _levels_in WHERE commune_code NOT IN (SELECT code FROM _communes_in)`,
  );
  const stray = unknown.getRows()[0]?.[0];
  if (stray) throw new Error(`membership names commune ${String(stray)}, which is not among the communes`);

  await connection.run(`CREATE TABLE membership (commune_code VARCHAR NOT NULL, level VARCHAR NOT NULL, code VARCHAR NOT NULL)`);
  await connection.run(`INSERT INTO membership
    SELECT DISTINCT code, 'commune', code FROM _communes_in
    UNION SELECT DISTINCT commune_code, level, code FROM _levels_in
    ORDER BY 2, 3, 1`);
  await connection.run(`CREATE TABLE territory (level VARCHAR NOT NULL, code VARCHAR NOT NULL, name VARCHAR, area_m2 DOUBLE,
    coverage_status VARCHAR, vintages VARCHAR, communes INTEGER, geom ${GEOMETRY_TYPE})`);
  await connection.run(`INSERT INTO territory
    SELECT * FROM (
      SELECT 'commune' AS level, code, name, area_m2, 'no_data', '', 1, ST_SetCRS(ST_GeomFromWKB(wkb), ${CRS}) FROM _communes_in
      UNION ALL
      SELECT l.level, l.code, min(l.name), sum(c.area_m2), 'no_data', '', count(*)::INTEGER,
             ST_SetCRS(ST_GeomFromWKB(any_value(u.wkb)), ${CRS})
      FROM _levels_in l JOIN _communes_in c ON c.code = l.commune_code
      LEFT JOIN _unions_in u ON u.level = l.level AND u.code = l.code
      GROUP BY l.level, l.code)
    ORDER BY level, code`);
}

/** Given unions, plus the union of the member communes for every higher-level territory without one. */
function unionGeometries(territories: OutputTerritories): Array<{ level: string; code: string; geomWkb: Uint8Array }> {
  const given = new Set((territories.unions ?? []).map((u) => `${u.level}\u0000${u.code}`));
  const missing = territories.levels.filter((row) => row.level !== 'commune' && !given.has(`${row.level}\u0000${row.code}`));
  const computed = unionMembers(missing, new Map(territories.communes.map((c) => [c.code, c.geomWkb])));
  return [...(territories.unions ?? []), ...computed];
}

async function loadPieces(connection: DuckDBConnection, pieceFiles: string[], classFiles: string[]): Promise<void> {
  const pieceGeom = await checkColumns(connection, pieceFiles, PIECE_COLUMNS, 'piece');
  await checkColumns(connection, classFiles, PIECE_CLASS_COLUMNS, 'piece_class');
  const geomExpression = pieceGeom === 'BLOB' ? `ST_SetCRS(ST_GeomFromWKB(geom), ${CRS})` : `ST_SetCRS(geom::GEOMETRY, ${CRS})`;
  await connection.run(`CREATE TABLE piece (piece_id BIGINT NOT NULL, commune_code VARCHAR NOT NULL, area_m2 DOUBLE NOT NULL, geom ${GEOMETRY_TYPE})`);
  await connection.run(`INSERT INTO piece
    SELECT piece_id, commune_code, area_m2, ${geomExpression} FROM read_parquet(${sqlList(pieceFiles)}) ORDER BY piece_id`);
  await connection.run(`CREATE TABLE piece_class (piece_id BIGINT NOT NULL, vintage INTEGER NOT NULL, code_cs VARCHAR, code_us VARCHAR,
    category INTEGER NOT NULL, artificialised BOOLEAN NOT NULL, artif_rule VARCHAR, sealed BOOLEAN NOT NULL, enaf VARCHAR NOT NULL, destination VARCHAR)`);
  await connection.run(`INSERT INTO piece_class
    SELECT ${PIECE_CLASS_COLUMNS.join(', ')} FROM read_parquet(${sqlList(classFiles)}) ORDER BY piece_id, vintage`);

  const checks: Array<[string, string, string[]]> = [
    [`SELECT min(piece_id)::VARCHAR FROM (SELECT piece_id FROM piece GROUP BY piece_id HAVING count(*) > 1)`, 'duplicate piece_id', pieceFiles],
    [`SELECT min(commune_code) FROM piece WHERE commune_code NOT IN (SELECT code FROM territory WHERE level = 'commune')`, 'piece in an unknown commune', pieceFiles],
    [`SELECT min(piece_id)::VARCHAR FROM piece_class WHERE piece_id NOT IN (SELECT piece_id FROM piece)`, 'class row for an unknown piece', classFiles],
    [`SELECT min(piece_id)::VARCHAR FROM (SELECT piece_id FROM piece_class GROUP BY piece_id, vintage HAVING count(*) > 1)`, 'two classes for one piece and vintage', classFiles],
    [`SELECT min(piece_id)::VARCHAR FROM piece_class WHERE category NOT BETWEEN 0 AND 10 OR enaf NOT IN ('naf', 'urban', 'unclassified')`, 'invalid category or enaf value', classFiles],
  ];
  for (const [sql, message, files] of checks) {
    const reader = await connection.runAndReadAll(sql);
    const feature = reader.getRows()[0]?.[0];
    if (feature !== null && feature !== undefined) {
      throw new UserError(message, { file: files.join(', '), feature: String(feature), remedy: 'rebuild the overlay outputs' });
    }
  }
}

/** Checks the Parquet files carry the expected columns; returns the type of the `geom` column if any. */
async function checkColumns(connection: DuckDBConnection, files: string[], expected: string[], table: string): Promise<string | undefined> {
  const reader = await connection.runAndReadAll(`DESCRIBE SELECT * FROM read_parquet(${sqlList(files)})`);
  const types = new Map((reader.getRows() as Array<[string, string]>).map(([name, type]) => [name, type]));
  const missing = expected.filter((column) => !types.has(column));
  if (missing.length > 0) {
    throw new UserError(`${table} Parquet lacks column(s) ${missing.join(', ')}`, { file: files.join(', '), remedy: 'rebuild the overlay outputs' });
  }
  return types.get('geom');
}

async function loadNomenclatureAndMetadata(connection: DuckDBConnection, input: IndicatorsInput, fallbacks: VintageYearFallback[]): Promise<void> {
  await connection.run(`CREATE TABLE nomenclature_category (category INTEGER NOT NULL, label VARCHAR NOT NULL, artificialised BOOLEAN NOT NULL)`);
  await appendRows(connection, 'nomenclature_category', [...input.nomenclature.categories].sort((a, b) => a.num - b.num).map((c) => [c.num, c.label, c.artificialised]));
  await connection.run(`CREATE TABLE nomenclature_code (axis VARCHAR NOT NULL, code VARCHAR NOT NULL, parent VARCHAR, label VARCHAR NOT NULL)`);
  const trees = [['cs', input.nomenclature.couverture], ['us', input.nomenclature.usage]] as const;
  await appendRows(connection, 'nomenclature_code', trees.flatMap(([axis, tree]) =>
    [...tree.values()].sort((a, b) => (a.code < b.code ? -1 : 1)).map((entry) => [axis, entry.code, entry.parent, entry.label]),
  ));
  const metadata: Record<string, string> = {
    ...input.runMetadata,
    tool_version: TOOL_VERSION,
    nomenclature_version: input.nomenclature.version,
    indicator_options: JSON.stringify(input.indicators ?? {}),
  };
  if (input.vintageYears) {
    const { name, version, sha256, scope, rows } = input.vintageYears;
    metadata['vintage_years'] = JSON.stringify({ table: name, version, sha256, scope, rows: rows.length });
    metadata['vintage_years.fallbacks'] = JSON.stringify(fallbacks.map(fallbackLine));
  }
  await connection.run(`CREATE TABLE run_metadata (key VARCHAR NOT NULL, value VARCHAR)`);
  await appendRows(connection, 'run_metadata', Object.keys(metadata).sort().map((key) => [key, metadata[key]!]));
}
