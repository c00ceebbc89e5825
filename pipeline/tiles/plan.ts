/**
 * Prepares a scratch DuckDB for tiling: the output DB has no spatial extension, so bounding boxes
 * are computed here once (from WKB, in JS) and stored beside the geometry, sorted by a coarse grid
 * key so that DuckDB's row-group min/max pruning makes per-partition bbox queries cheap. Each piece
 * row also carries the number of its list of classes (one class per vintage, table `class_set`), and each
 * territory its headline indicators (from `v_territory_summary`: last-vintage artificialised share, first → last net artificialisation and ENAF), so a
 * partition is one query. Workers open the scratch DB read-only.
 *
 * @example
 * const plan = await prepareTileIndex({ db: 'OUT/ocs.duckdb', indexPath: '/tmp/x/index.duckdb', partitionZoom: 12, minzoom: 6, maxzoom: 14 });
 */
import { UserError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { silentLogger } from '../core/log.js';
import type { DuckDBConnection } from '@duckdb/node-api';
import { appendRows, type Cell, openDuckDB } from '../core/duckdb.js';
import { type BBox, wkbBBox } from '../core/wkb.js';
import { Lambert93, tileRange } from './geo.js';
import { buildLegend, type LegendEntry } from './legend.js';
import { sqlString } from '../core/sql.js';

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
/** Pieces whose classes are gathered per statement (about 30 MB of aggregate state, so that a 256MB bound is enough). */
const CLASS_BATCH_PIECES = 100_000;

export interface TileIndexInput {
  db: string;
  indexPath: string;
  minzoom: number;
  maxzoom: number;
  partitionZoom: number;
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
 * Table `cls`: each piece's classes as one list, ordered by vintage. A piece has at most one class per vintage, so
 * the list is one column per vintage with the missing ones left out: a plain hash aggregate, where an ordered
 * `list(… ORDER BY vintage)` took 7 times longer (950 ms against 130 ms per 100,000 Bas-Rhin pieces). Built by
 * ranges of piece ids because aggregate states of this kind do not spill: over the region's 28 M class rows at once
 * the list aggregate outgrew DuckDB's memory bound. `piece_class` is sorted by piece id, so each range reads only its
 * own row groups.
 */
async function collectClasses(conn: DuckDBConnection, vintages: number[]): Promise<void> {
  const range = (await conn.runAndReadAll(`SELECT coalesce(min(piece_id), 0)::DOUBLE AS lo, coalesce(max(piece_id), -1)::DOUBLE AS hi FROM src.piece_class`)).getRowObjectsJS()[0]!;
  const perVintage = vintages.map(
    (vintage) => `any_value(struct_pack(vintage := vintage, code_cs := code_cs, code_us := code_us, category := category,
                                        artificialised := artificialised, enaf := enaf, destination := destination)) FILTER (WHERE vintage = ${vintage})`,
  );
  const classesOf = (from: number): string => `
    SELECT piece_id, list_filter([${perVintage.join(', ')}], c -> c IS NOT NULL) AS classes
    FROM src.piece_class WHERE piece_id >= ${from} AND piece_id < ${from + CLASS_BATCH_PIECES} GROUP BY piece_id`;
  await conn.run(`CREATE TABLE cls AS ${classesOf(Number(range.lo))}`);
  for (let from = Number(range.lo) + CLASS_BATCH_PIECES; from <= Number(range.hi); from += CLASS_BATCH_PIECES) await conn.run(`INSERT INTO cls ${classesOf(from)}`);
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
    const extendBounds = (lonLat: BBox): void => {
      bounds[0] = Math.min(bounds[0], lonLat[0]);
      bounds[1] = Math.min(bounds[1], lonLat[1]);
      bounds[2] = Math.max(bounds[2], lonLat[2]);
      bounds[3] = Math.max(bounds[3], lonLat[3]);
    };
    const addPartitions = (lonLat: BBox, zooms: [number, number]): void => {
      for (let z = zooms[0]; z <= Math.min(zooms[1], input.partitionZoom); z++) {
        const r = tileRange(lonLat, z);
        for (let x = r.minX; x <= r.maxX; x++) for (let y = r.minY; y <= r.maxY; y++) partitionKeys.add(`${z}/${x}/${y}`);
      }
      extendBounds(lonLat);
    };
    // Pieces show at every zoom: their tiles at the partition zoom are gathered, and the partitions below are
    // these tiles' ancestors. Exact: the tile maths scale by powers of two, so a tile range at a lower zoom is the
    // range at the partition zoom shifted right.
    const pieceTiles = new Set<number>();
    const tilesPerRow = 2 ** input.partitionZoom;
    const addPieces = (lonLat: Float64Array): void => {
      for (let i = 0; i < lonLat.length; i += 4) {
        const box = [lonLat[i]!, lonLat[i + 1]!, lonLat[i + 2]!, lonLat[i + 3]!] as BBox;
        const r = tileRange(box, input.partitionZoom);
        for (let x = r.minX; x <= r.maxX; x++) for (let y = r.minY; y <= r.maxY; y++) pieceTiles.add(x * tilesPerRow + y);
        extendBounds(box);
      }
    };

    // Pieces: bbox per row through the appender, then one sorted copy joined with the classes.
    await conn.run(`CREATE TABLE piece_bbox (piece_id BIGINT, minx DOUBLE, miny DOUBLE, maxx DOUBLE, maxy DOUBLE)`);
    // The appender gets its own connection: its periodic flushes would end a stream pending on the same one
    // (which silently stopped reading after 204,800 pieces).
    const appendConn = await instance.connect();
    const appender = await appendConn.createAppender('piece_bbox');
    const progress = logger.progress('tiles: indexing pieces', 'pieces');
    const result = await conn.stream(`SELECT piece_id, ST_AsWKB(geom) AS wkb FROM src.piece`);
    let pieces = 0;
    for (let chunk = await result.fetchChunk(); chunk && chunk.rowCount > 0; chunk = await result.fetchChunk()) {
      const ids = chunk.getColumnValues(0) as bigint[];
      const wkbs = chunk.getColumnValues(1) as Array<{ bytes: Uint8Array } | null>;
      const boxes: number[] = [];
      for (let i = 0; i < ids.length; i++) {
        const wkb = wkbs[i];
        if (!wkb) continue;
        const box = wkbBBox(wkb.bytes);
        if (!Number.isFinite(box[0])) continue;
        appender.appendBigInt(ids[i]!);
        for (const v of box) appender.appendDouble(v);
        appender.endRow();
        boxes.push(...box);
      }
      // Pieces are small: corners are enough, the partition query box has its own margin.
      if (boxes.length > 0) addPieces(lambert.cornersToLonLat(Float64Array.from(boxes)));
      pieces += ids.length;
      progress.tick(ids.length);
    }
    appender.closeSync();
    appendConn.closeSync();
    for (const tile of pieceTiles) {
      const [x, y] = [Math.floor(tile / tilesPerRow), tile % tilesPerRow];
      for (let z = input.minzoom; z <= input.partitionZoom; z++) {
        const shift = 2 ** (input.partitionZoom - z);
        partitionKeys.add(`${z}/${Math.floor(x / shift)}/${Math.floor(y / shift)}`);
      }
    }
    await collectClasses(conn, vintages);
    // Pieces name their list of classes by a number: a few thousand distinct lists where the region has millions of
    // pieces, so workers turn each list into layer properties once instead of reading, sorting and converting a
    // list per piece (two thirds of their query time).
    await conn.run(`CREATE TABLE class_set AS SELECT row_number() OVER (ORDER BY classes)::INTEGER AS class_set, classes FROM (SELECT DISTINCT classes FROM cls)`);
    await conn.run(`
      CREATE TABLE feat AS
      SELECT p.piece_id, p.area_m2::DOUBLE AS area_m2, b.minx, b.miny, b.maxx, b.maxy, ST_AsWKB(p.geom) AS wkb, s.class_set
      FROM src.piece p JOIN piece_bbox b USING (piece_id) JOIN cls USING (piece_id) JOIN class_set s ON s.classes IS NOT DISTINCT FROM cls.classes
      ORDER BY floor((b.miny + b.maxy) / ${2 * SORT_CELL_M}), floor((b.minx + b.maxx) / ${2 * SORT_CELL_M}), p.piece_id`);
    await conn.run(`DROP TABLE piece_bbox`);
    await conn.run(`DROP TABLE cls`);

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
