/**
 * The tile index's pass over the pieces, for one range of piece ids: each piece's Lambert-93 box (written to a
 * Parquet file that the index joins), the partition-zoom tiles its lon/lat box meets, and the lon/lat bounds of
 * the range. The index runs ranges in worker processes, `jobs` at once (this module forked as `box-worker`), or
 * here when there is one range: the pass is JavaScript (WKB boxes, corners through PROJ, rows appended) and held
 * one core while the other waited (49 s of the region's tiles).
 *
 * @example
 * const { pieces, tiles, bounds } = await indexPieceRange({ db: 'OUT/ocs.duckdb', fromId: 1, toId: 500_000, boxFile: '/tmp/x/boxes-0.parquet', partitionZoom: 12 });
 */
import { serveTasks } from '../core/worker-pool.js';
import { openDuckDB } from '../core/duckdb.js';
import { sqlString } from '../core/sql.js';
import { type BBox, extendBox, wkbBBox } from '../core/wkb.js';
import { Lambert93, tileRange } from './geo.js';

export interface PieceRange {
  db: string;
  /** First and last piece id of the range, both included. */
  fromId: number;
  toId: number;
  /** Receives `piece_id, minx, miny, maxx, maxy` (Lambert-93) of the range's pieces with a geometry. */
  boxFile: string;
  partitionZoom: number;
}

export interface PieceRangeIndex {
  /** Rows of the range, with or without a geometry. */
  pieces: number;
  /** Partition-zoom tiles met by the pieces' lon/lat boxes, as `x * 2^z + y`. */
  tiles: number[];
  /** Lon/lat bounds of the pieces' boxes (infinite when none has a geometry). */
  bounds: BBox;
}

export async function indexPieceRange(range: PieceRange): Promise<PieceRangeIndex> {
  const instance = await openDuckDB(':memory:', { threads: '1' });
  const conn = await instance.connect();
  // The appender gets its own connection: its periodic flushes would end a stream pending on the same one
  // (which silently stopped reading after 204,800 pieces).
  const appendConn = await instance.connect();
  try {
    await conn.run(`ATTACH ${sqlString(range.db)} AS src (READ_ONLY)`);
    await conn.run(`CREATE TABLE piece_bbox (piece_id BIGINT, minx DOUBLE, miny DOUBLE, maxx DOUBLE, maxy DOUBLE)`);
    const appender = await appendConn.createAppender('piece_bbox');
    const lambert = new Lambert93();
    const tilesPerRow = 2 ** range.partitionZoom;
    const tiles = new Set<number>();
    const bounds: BBox = [Infinity, Infinity, -Infinity, -Infinity];
    let pieces = 0;
    const result = await conn.stream(`SELECT piece_id, ST_AsWKB(geom) AS wkb FROM src.piece WHERE piece_id BETWEEN ${range.fromId} AND ${range.toId}`);
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
      const lonLat = lambert.cornersToLonLat(Float64Array.from(boxes));
      for (let i = 0; i < lonLat.length; i += 4) {
        const box = [lonLat[i]!, lonLat[i + 1]!, lonLat[i + 2]!, lonLat[i + 3]!] as BBox;
        const r = tileRange(box, range.partitionZoom);
        for (let x = r.minX; x <= r.maxX; x++) for (let y = r.minY; y <= r.maxY; y++) tiles.add(x * tilesPerRow + y);
        extendBox(bounds, box);
      }
      pieces += ids.length;
    }
    appender.closeSync();
    await conn.run(`COPY piece_bbox TO ${sqlString(range.boxFile)} (FORMAT parquet)`);
    return { pieces, tiles: [...tiles], bounds };
  } finally {
    appendConn.closeSync();
    conn.closeSync();
    instance.closeSync();
  }
}

serveTasks<never, PieceRange, PieceRangeIndex>('box-worker', { task: indexPieceRange });
