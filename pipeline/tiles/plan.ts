/**
 * Prepares a scratch DuckDB for tiling: the output DB has no spatial extension, so bounding boxes
 * are computed once (from WKB, in JS; the pieces' in worker processes, box-worker.ts) and stored
 * beside the geometry, sorted by a coarse grid key so that DuckDB's row-group min/max pruning makes
 * per-partition bbox queries cheap. Each piece row also carries the number of its list of classes
 * (one class per vintage, table `class_set`), and each territory its headline indicators (from
 * `v_territory_summary`: last-vintage artificialised share, first → last net artificialisation and
 * ENAF), so a partition is one query. Workers open the scratch DB read-only.
 *
 * @example
 * const plan = await prepareTileIndex({ db: 'OUT/ocs.duckdb', indexPath: '/tmp/x/index.duckdb', partitionZoom: 12, minzoom: 6, maxzoom: 14, jobs: 2 });
 */
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { UserError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { silentLogger } from '../core/log.js';
import type { DuckDBConnection } from '@duckdb/node-api';
import { appendRows, type Cell, openDuckDB } from '../core/duckdb.js';
import { type BBox, extendBox, wkbBBox } from '../core/wkb.js';
import { runInWorkers } from '../core/worker-pool.js';
import { Lambert93, tileRange } from './geo.js';
import { indexPieceRange, type PieceRange, type PieceRangeIndex } from './box-worker.js';
import { buildLegend, type LegendEntry } from './legend.js';
import { sqlList, sqlString } from '../core/sql.js';

/** Zoom range in which each territory level is drawn (clipped to the archive's own range). */
export const TERRITORY_ZOOMS: Record<string, [number, number]> = {
  region: [0, 7],
  departement: [6, 9],
  scot: [8, 11],
  epci: [8, 11],
  commune: [9, 14],
};

const REQUIRED_TABLES = ['piece', 'piece_class', 'territory', 'v_territory_summary'];
// Grid cell (metres) of the sort key: small enough for pruning, large enough to keep neighbours together.
const SORT_CELL_M = 10_000;
/** Most piece ids per task of the pass over the pieces: a few seconds each, so that progress moves and the workers end together. */
const PIECES_PER_RANGE = 500_000;

export interface TileIndexInput {
  db: string;
  indexPath: string;
  minzoom: number;
  maxzoom: number;
  partitionZoom: number;
  /** Worker processes for the pass over the pieces. */
  jobs: number;
  logger?: Logger;
}

/** One unit of work: the tile z/x/y and the zooms it produces (itself only, or itself and its descendants). */
export interface Partition {
  z: number;
  x: number;
  y: number;
  zooms: [number, number];
}

export interface TilePlan {
  vintages: number[];
  levels: string[];
  legend: LegendEntry[];
  partitions: Partition[];
  /** Lon/lat bounds of all pieces and territories. */
  bounds: BBox;
  pieces: number;
  territories: number;
}


/**
 * Tables `piece_set` (each piece's class list, by number) and `class_set` (each distinct list: its classes as structs,
 * ordered by vintage; a few hundred to a few thousand lists). A class is first numbered among the distinct classes
 * (a few hundred), then each piece gets one number per vintage (an integer aggregate, which spills under DuckDB's
 * memory bound where a list or struct aggregate of the region's 28 M class rows did not, and had to be cut into 95
 * statements: 40 s of the region's index), and the distinct tuples of numbers are the lists.
 */
async function collectClasses(conn: DuckDBConnection, vintages: number[]): Promise<void> {
  const fields = ['vintage', 'code_cs', 'code_us', 'category', 'artificialised', 'enaf', 'destination'];
  await conn.run(`
    CREATE TABLE class_kind AS SELECT row_number() OVER (ORDER BY ${fields.join(', ')})::INTEGER AS kind, *
    FROM (SELECT DISTINCT ${fields.join(', ')} FROM src.piece_class)`);
  const slots = vintages.map((_, i) => `k${i}`);
  const sameClass = fields.map((f) => `c.${f} IS NOT DISTINCT FROM k.${f}`).join(' AND ');
  await conn.run(`
    CREATE TABLE piece_kinds AS
    SELECT c.piece_id, ${vintages.map((vintage, i) => `any_value(k.kind) FILTER (WHERE c.vintage = ${vintage}) AS ${slots[i]}`).join(', ')}
    FROM src.piece_class c JOIN class_kind k ON ${sameClass} GROUP BY c.piece_id`);
  const sameSet = slots.map((slot) => `s.${slot} IS NOT DISTINCT FROM p.${slot}`).join(' AND ');
  await conn.run(`
    CREATE TABLE set_kinds AS SELECT row_number() OVER (ORDER BY ${slots.join(', ')})::INTEGER AS class_set, ${slots.join(', ')}
    FROM (SELECT DISTINCT ${slots.join(', ')} FROM piece_kinds)`);
  await conn.run(`CREATE TABLE piece_set AS SELECT p.piece_id, s.class_set FROM piece_kinds p JOIN set_kinds s ON ${sameSet}`);
  // A vintage without a class is left out of the list (a missing struct, not a struct of nulls).
  const classOf = (slot: string, i: number): string =>
    `CASE WHEN ${slot} IS NULL THEN NULL ELSE struct_pack(${fields.map((f) => `${f} := k${i}_.${f}`).join(', ')}) END`;
  await conn.run(`
    CREATE TABLE class_set AS
    SELECT s.class_set, list_filter([${slots.map(classOf).join(', ')}], c -> c IS NOT NULL) AS classes
    FROM set_kinds s ${slots.map((slot, i) => `LEFT JOIN class_kind k${i}_ ON k${i}_.kind = s.${slot}`).join(' ')}`);
  for (const table of ['class_kind', 'piece_kinds', 'set_kinds']) await conn.run(`DROP TABLE ${table}`);
}

/**
 * The pass over the pieces cut into ranges of piece ids, at least one per job (so that the parallel path is the one
 * every multi-job run takes, small ones too), each with its box file beside the index.
 */
async function pieceRanges(conn: DuckDBConnection, input: TileIndexInput): Promise<PieceRange[]> {
  const [first, last] = (await conn.runAndReadAll(`SELECT min(piece_id)::DOUBLE, max(piece_id)::DOUBLE FROM src.piece`)).getRows()[0] as [number | null, number | null];
  const [from, to] = first === null || last === null ? [1, 0] : [first, last];
  const ids = to - from + 1;
  const count = Math.max(1, Math.ceil(ids / PIECES_PER_RANGE), Math.min(input.jobs, ids));
  const size = Math.ceil(ids / count);
  return Array.from({ length: count }, (_, k) => ({
    db: input.db,
    fromId: from + k * size,
    toId: Math.min(to, from + (k + 1) * size - 1),
    boxFile: path.join(path.dirname(input.indexPath), `piece-boxes-${k}.parquet`),
    partitionZoom: input.partitionZoom,
  }));
}

/** Visible zoom range of a territory level inside [minzoom, maxzoom], or null when it falls outside. */
export function levelZooms(level: string, minzoom: number, maxzoom: number): [number, number] | null {
  const [lo, hi] = TERRITORY_ZOOMS[level] ?? [minzoom, maxzoom];
  const from = Math.max(lo, minzoom);
  const to = Math.min(hi, maxzoom);
  return from <= to ? [from, to] : null;
}

export async function prepareTileIndex(input: TileIndexInput): Promise<TilePlan> {
  const logger = input.logger ?? silentLogger;
  const instance = await openDuckDB(input.indexPath);
  const conn = await instance.connect();
  try {
    await conn.run(`ATTACH ${sqlString(input.db)} AS src (READ_ONLY)`);
    const tables = new Set(
      (await conn.runAndReadAll(`SELECT table_name FROM duckdb_tables() WHERE database_name = 'src' UNION SELECT view_name FROM duckdb_views() WHERE database_name = 'src'`))
        .getRowObjectsJS()
        .map((row) => String(row.table_name)),
    );
    const missing = REQUIRED_TABLES.filter((t) => !tables.has(t));
    if (missing.length > 0) {
      throw new UserError(`missing table(s) ${missing.join(', ')}`, { file: input.db, remedy: 'point --db at the ocs.duckdb written by `ocs-zan run`' });
    }
    const vintages = (await conn.runAndReadAll(`SELECT DISTINCT vintage FROM src.piece_class ORDER BY vintage`)).getRowObjectsJS().map((r) => Number(r.vintage));
    const legendRows = tables.has('nomenclature_category')
      ? (await conn.runAndReadAll(`SELECT category, label, artificialised FROM src.nomenclature_category ORDER BY category`))
          .getRowObjectsJS()
          .map((r) => ({ category: Number(r.category), label: String(r.label), artificialised: Boolean(r.artificialised) }))
      : [];

    const lambert = new Lambert93();
    const partitionKeys = new Set<string>();
    const bounds: BBox = [Infinity, Infinity, -Infinity, -Infinity];
    const addPartitions = (lonLat: BBox, zooms: [number, number]): void => {
      for (let z = zooms[0]; z <= Math.min(zooms[1], input.partitionZoom); z++) {
        const r = tileRange(lonLat, z);
        for (let x = r.minX; x <= r.maxX; x++) for (let y = r.minY; y <= r.maxY; y++) partitionKeys.add(`${z}/${x}/${y}`);
      }
      extendBox(bounds, lonLat);
    };
    // Pieces show at every zoom: their tiles at the partition zoom are gathered (box-worker.ts, ranges of piece ids
    // in parallel), and the partitions below are these tiles' ancestors. Exact: the tile maths scale by powers of
    // two, so a tile range at a lower zoom is the range at the partition zoom shifted right.
    const ranges = await pieceRanges(conn, input);
    const progress = logger.progress('tiles: indexing pieces', 'pieces');
    const indexed =
      ranges.length === 1
        ? [await indexPieceRange(ranges[0]!).then((result) => (progress.tick(result.pieces), result))]
        : await runInWorkers<never, PieceRange, PieceRangeIndex>({
            module: import.meta.url,
            basename: 'box-worker',
            jobs: input.jobs,
            tasks: ranges,
            stage: 'tiles',
            shard: (range) => `pieces ${range.fromId}–${range.toId}`,
            onResult: (result) => progress.tick(result.pieces),
          });
    let pieces = 0;
    const tilesPerRow = 2 ** input.partitionZoom;
    for (const range of indexed) {
      pieces += range.pieces;
      extendBox(bounds, range.bounds);
      for (const tile of range.tiles) {
        const [x, y] = [Math.floor(tile / tilesPerRow), tile % tilesPerRow];
        for (let z = input.minzoom; z <= input.partitionZoom; z++) {
          const shift = 2 ** (input.partitionZoom - z);
          partitionKeys.add(`${z}/${Math.floor(x / shift)}/${Math.floor(y / shift)}`);
        }
      }
    }
    await collectClasses(conn, vintages);
    await conn.run(`
      CREATE TABLE feat AS
      SELECT p.piece_id, p.area_m2::DOUBLE AS area_m2, b.minx, b.miny, b.maxx, b.maxy, ST_AsWKB(p.geom) AS wkb, s.class_set
      FROM src.piece p JOIN read_parquet(${sqlList(ranges.map((range) => range.boxFile))}) b USING (piece_id) JOIN piece_set s USING (piece_id)
      ORDER BY floor((b.miny + b.maxy) / ${2 * SORT_CELL_M}), floor((b.minx + b.maxx) / ${2 * SORT_CELL_M}), p.piece_id`);
    await conn.run(`DROP TABLE piece_set`);
    for (const range of ranges) await rm(range.boxFile);

    // Territories with their headline indicators, as the indicators stage summarises them.
    const territoryRows = (
      await conn.runAndReadAll(`
      SELECT t.level, t.code, t.name, t.coverage_status, s.area_ha::DOUBLE AS area_ha, s.artificialised_share_last::DOUBLE AS artificialised_share,
             s.net_artificialisation_ha::DOUBLE AS net_artif_ha, s.enaf_consumption_ha::DOUBLE AS enaf_consumption_ha, ST_AsWKB(t.geom) AS wkb
      FROM src.territory t JOIN src.v_territory_summary s USING (level, code)
      WHERE t.geom IS NOT NULL
      ORDER BY t.level, t.code`)
    ).getRowObjectsJS();
    await conn.run(`CREATE TABLE terr (level VARCHAR, code VARCHAR, name VARCHAR, coverage_status VARCHAR, area_ha DOUBLE, artificialised_share DOUBLE,
                    net_artif_ha DOUBLE, enaf_consumption_ha DOUBLE, minx DOUBLE, miny DOUBLE, maxx DOUBLE, maxy DOUBLE, wkb BLOB)`);
    const fields = ['level', 'code', 'name', 'coverage_status', 'area_ha', 'artificialised_share', 'net_artif_ha', 'enaf_consumption_ha'] as const;
    const levels = new Set<string>();
    const terr: Cell[][] = [];
    for (const row of territoryRows) {
      const wkb = row.wkb as Uint8Array;
      const box = wkbBBox(wkb);
      const level = String(row.level);
      const zooms = levelZooms(level, input.minzoom, input.maxzoom);
      if (!zooms || !Number.isFinite(box[0])) continue;
      levels.add(level);
      terr.push([...fields.map((key) => (row[key] ?? null) as Cell), ...box, wkb]);
      addPartitions(lambert.lambertBoxToLonLat(box), zooms);
    }
    await appendRows(conn, 'terr', terr);
    await conn.run(`CHECKPOINT`);

    const partitions = [...partitionKeys]
      .map((key) => key.split('/').map(Number) as [number, number, number])
      .map(([z, x, y]): Partition => ({ z, x, y, zooms: z < input.partitionZoom ? [z, z] : [z, input.maxzoom] }))
      .sort((a, b) => a.z - b.z || a.x - b.x || a.y - b.y);
    logger.info(`tiles: ${pieces.toLocaleString('en-US')} pieces, ${territoryRows.length} territories, ${partitions.length} partitions`);
    return {
      vintages,
      levels: [...levels].sort(),
      legend: buildLegend(legendRows),
      partitions,
      bounds,
      pieces,
      territories: territoryRows.length,
    };
  } finally {
    conn.closeSync();
    instance.closeSync();
  }
}
