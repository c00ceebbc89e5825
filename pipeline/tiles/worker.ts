/**
 * Tile worker process: opens the scratch index read-only, and for each partition it is sent reads
 * the pieces and territories whose boxes touch the (buffered) partition tile, reprojects them to
 * lon/lat, cuts the tiles and appends their gzip bytes to its own blob file. It answers with the
 * tile references (id, offset, length, hash) so the parent can assemble one clustered archive.
 * Memory is bounded by one partition.
 */
import { openSync, writeSync, closeSync } from 'node:fs';
import type { DuckDBInstance, DuckDBConnection } from '@duckdb/node-api';
import { Lambert93, pixelMetres, tileBounds } from './geo.js';
import { TERRITORY_ZOOMS, levelZooms, type Partition } from './plan.js';
import { addDrop, buildPartitionTiles, type BoxedFeature, type DropCounts, type LayerInput, type PieceLayer } from './builder.js';
import {
  changeKind,
  changeLayer,
  changePairs,
  changeProperties,
  landuseLayer,
  landuseProperties,
  territoryLayer,
  territoryProperties,
  type PieceClass,
} from './layers.js';
import type { TileRef } from './pmtiles-writer.js';
import { serveTasks } from '../core/worker-pool.js';
import { openDuckDB } from '../core/duckdb.js';

export interface WorkerInit {
  indexPath: string;
  blobFile: string;
  minzoom: number;
  maxzoom: number;
  budgetBytes: number;
}

export interface PartitionResult {
  tiles: Array<TileRef & { z: number }>;
  dropped: DropCounts;
  /** Names of the change layers met in this partition (they depend on each piece's vintages). */
  changeLayers: string[];
}


/** Drop-count key for pieces left out of a low-zoom tile because they are smaller than one pixel. */
export const BELOW_PIXEL = 'pieces_below_one_pixel';

/** Share of the partition tile added on each side of the query box, wider than the clip buffer. */
const QUERY_BUFFER = 1 / 16;

interface PieceLayerEntry {
  name: string;
  properties: GeoJSON.GeoJsonProperties;
}

/**
 * The layers of a piece with these classes (ordered by vintage): land use at each vintage, and each change. Built once
 * per list, so that every piece of a list shares its properties objects.
 */
function layerEntries(rows: Array<Record<string, unknown>>): PieceLayerEntry[] {
  const classes = rows.map(
    (c): PieceClass => ({
      vintage: Number(c.vintage),
      code_cs: String(c.code_cs ?? ''),
      code_us: String(c.code_us ?? ''),
      category: Number(c.category ?? 0),
      artificialised: Boolean(c.artificialised),
      enaf: String(c.enaf ?? ''),
      destination: c.destination == null ? null : String(c.destination),
    }),
  );
  const entries = classes.map((c) => ({ name: landuseLayer(c.vintage), properties: landuseProperties(c) }));
  for (const [from, to] of changePairs(classes)) {
    const kind = changeKind(from, to);
    if (kind) entries.push({ name: changeLayer(from.vintage, to.vintage), properties: changeProperties(from, to, kind) });
  }
  return entries;
}

export class PartitionBuilder {
  private offset = 0;
  private readonly lambert = new Lambert93();

  private constructor(
    private readonly init: WorkerInit,
    private readonly instance: DuckDBInstance,
    private readonly conn: DuckDBConnection,
    private readonly fd: number,
    /** Class list number → the piece layers a piece with that list is in, and its properties there. */
    private readonly classSets: Map<number, PieceLayerEntry[]>,
  ) {}

  static async create(init: WorkerInit): Promise<PartitionBuilder> {
    const instance = await openDuckDB(init.indexPath, { access_mode: 'READ_ONLY' });
    const conn = await instance.connect();
    const classSets = new Map<number, PieceLayerEntry[]>();
    for (const row of (await conn.runAndReadAll(`SELECT class_set, classes FROM class_set`)).getRowObjectsJS()) {
      classSets.set(Number(row.class_set), layerEntries(row.classes as Array<Record<string, unknown>>));
    }
    return new PartitionBuilder(init, instance, conn, openSync(init.blobFile, 'w'), classSets);
  }

  close(): void {
    closeSync(this.fd);
    this.conn.closeSync();
    this.instance.closeSync();
  }

  async build(partition: Partition): Promise<PartitionResult> {
    const { minzoom, maxzoom } = this.init;
    const lonLat = tileBounds(partition.z, partition.x, partition.y, QUERY_BUFFER);
    const box = this.lambert.lonLatBoxToLambert(lonLat);
    const dropped: DropCounts = {};
    // A partition cutting a single low zoom leaves out pieces smaller than a pixel there, counted.
    const lowZoom = partition.zooms[1] < maxzoom;
    const minArea = lowZoom ? pixelMetres(partition.z, (lonLat[1] + lonLat[3]) / 2) ** 2 : 0;
    const where = `maxx >= ${box[0]} AND minx <= ${box[2]} AND maxy >= ${box[1]} AND miny <= ${box[3]}`;

    // Read by column: an object per row was a twentieth of a worker's time, and garbage. No rows, no columns.
    const [ids = [], areas = [], wkbs = [], classSets = []] = (await this.conn.runAndReadAll(`SELECT piece_id::DOUBLE, area_m2, wkb, class_set FROM feat WHERE ${where} AND area_m2 >= ${minArea} ORDER BY piece_id`)).getColumnsJS() as [number[], number[], Uint8Array[], number[]];
    if (lowZoom) {
      const small = (await this.conn.runAndReadAll(`SELECT count(*)::DOUBLE AS n FROM feat WHERE ${where} AND area_m2 < ${minArea}`)).getRowObjectsJS()[0]!;
      addDrop(dropped, BELOW_PIXEL, partition.z, Number(small.n));
    }

    const pieceLayers = new Map<string, PieceLayer>();
    const areaById = new Map<number, number>();
    const drawn: Array<{ id: number; wkb: Uint8Array }> = [];
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      areaById.set(id, areas[i]!);
      const layers = this.classSets.get(classSets[i]!)!;
      for (const { name, properties } of layers) {
        let layer = pieceLayers.get(name);
        if (!layer) pieceLayers.set(name, (layer = { name, properties: new Map(), zooms: [minzoom, maxzoom], droppable: true }));
        layer.properties.set(id, properties);
      }
      // A piece no layer holds (no class at any vintage) is not drawn.
      if (layers.length > 0) drawn.push({ id, wkb: wkbs[i]! });
    }
    const pieces = this.lambert
      .geometriesToLonLat(drawn.map((piece) => piece.wkb))
      .map((geometry, i): BoxedFeature => ({ type: 'Feature', id: drawn[i]!.id, geometry, properties: null }));

    const territoryLayers = new Map<string, LayerInput>();
    const levels = Object.keys(TERRITORY_ZOOMS).filter((level) => {
      const z = levelZooms(level, minzoom, maxzoom);
      return z && z[0] <= partition.zooms[1] && z[1] >= partition.zooms[0];
    });
    if (levels.length > 0) {
      const list = levels.map((l) => `'${l}'`).join(', ');
      const territoryRows = (await this.conn.runAndReadAll(`SELECT * FROM terr WHERE ${where} AND level IN (${list}) ORDER BY level, code`)).getRowObjectsJS();
      const geometries = this.lambert.geometriesToLonLat(territoryRows.map((row) => row.wkb as Uint8Array));
      territoryRows.forEach((row, i) => {
        const level = String(row.level);
        const name = territoryLayer(level);
        let layer = territoryLayers.get(name);
        if (!layer) territoryLayers.set(name, (layer = { name, features: [], zooms: levelZooms(level, minzoom, maxzoom)!, droppable: false }));
        layer.features.push({
          type: 'Feature',
          geometry: geometries[i]!,
          properties: territoryProperties(row),
        });
      });
    }

    const byName = <L extends { name: string }>(a: L, b: L): number => (a.name < b.name ? -1 : 1);
    const layers = [...territoryLayers.values()].sort(byName);
    const sortedPieceLayers = [...pieceLayers.values()].sort(byName);
    const built = buildPartitionTiles(partition, { pieces, pieceLayers: sortedPieceLayers, layers }, { budgetBytes: this.init.budgetBytes, maxzoom, areaById });
    for (const [name, perZoom] of Object.entries(built.dropped)) for (const [z, n] of Object.entries(perZoom)) addDrop(dropped, name, Number(z), n);
    const tiles = built.tiles.map((tile) => {
      writeSync(this.fd, tile.gzip);
      const ref = { tileId: tile.tileId, z: tile.z, hash: tile.hash, length: tile.gzip.length, file: this.init.blobFile, offset: this.offset };
      this.offset += tile.gzip.length;
      return ref;
    });
    return { tiles, dropped, changeLayers: sortedPieceLayers.filter((l) => l.name.startsWith('change_')).map((l) => l.name) };
  }
}

// Child-process entry: one builder per worker, one partition at a time.
let builder: PartitionBuilder | undefined;
serveTasks<WorkerInit, Partition, PartitionResult>('worker', {
  init: async (init) => {
    builder = await PartitionBuilder.create(init);
  },
  task: (partition) => builder!.build(partition),
  close: () => builder?.close(),
});
