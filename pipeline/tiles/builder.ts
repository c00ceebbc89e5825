/**
 * Cuts one partition's features into gzip-compressed MVT tiles: @maplibre/geojson-vt simplifies
 * per zoom and clips with a buffer (so neighbouring tiles overlap and no gap shows at tile edges),
 * `mvt.ts` encodes (as @maplibre/vt-pbf would). A tile over the size budget loses its smallest droppable features
 * (land-use and change pieces, never territories) until it fits, and every drop is counted.
 * Output bytes depend only on the input: features arrive sorted, layers are written in name order,
 * gzip uses a fixed level and no timestamp.
 *
 * @example
 * const { tiles, dropped } = buildPartitionTiles({ z: 12, x: 2133, y: 1412, zooms: [12, 14] }, { pieces, pieceLayers, layers }, { budgetBytes: 500_000, maxzoom: 14, areaById });
 */
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { GeoJSONVT, type GeoJSONVTFeature } from '@maplibre/geojson-vt';
import type { BBox } from '../core/wkb.js';
import { tileRange } from './geo.js';
import { zxyToTileId } from './pmtiles-writer.js';
import { encodeMvt, type MvtLayer } from './mvt.js';

export const EXTENT = 4096;
export const BUFFER = 64;
const GZIP_LEVEL = 6;

/** A feature whose geometry carries its lon/lat box (as `Lambert93.geometriesToLonLat` gives it). */
export type BoxedFeature = GeoJSON.Feature<GeoJSON.Geometry & { bbox: BBox }>;

export interface LayerInput {
  name: string;
  /** Sorted by id. */
  features: BoxedFeature[];
  zooms: [number, number];
  /** Land-use and change features may be dropped to meet the budget; territories may not. */
  droppable: boolean;
}

/**
 * A layer drawn from the partition's pieces (land use per vintage, changes): the properties of each piece it
 * holds. Pieces are cut once for all these layers, which then differ only by their properties.
 */
export interface PieceLayer {
  name: string;
  /** Piece id → properties; a piece without an entry is not in the layer. */
  properties: Map<number, GeoJSON.GeoJsonProperties>;
  zooms: [number, number];
  droppable: boolean;
}

export interface PartitionFeatures {
  /** Each piece once, sorted by id, with `id` the piece id (its properties are unused). */
  pieces: BoxedFeature[];
  pieceLayers: PieceLayer[];
  /** Layers with geometries of their own (territories). */
  layers: LayerInput[];
}

export interface PartitionSpec {
  z: number;
  x: number;
  y: number;
  zooms: [number, number];
}

export interface BuiltTile {
  z: number;
  x: number;
  y: number;
  tileId: number;
  gzip: Buffer;
  hash: string;
}

/** Dropped feature-tiles: layer → zoom → count. */
export type DropCounts = Record<string, Record<string, number>>;

export function addDrop(into: DropCounts, layer: string, z: number, count: number): void {
  if (count <= 0) return;
  const perZoom = (into[layer] ??= {});
  perZoom[z] = (perZoom[z] ?? 0) + count;
}

function encode(layers: MvtLayer[]): Buffer {
  const ordered = [...layers].sort((a, b) => (a.name < b.name ? -1 : 1));
  return gzipSync(encodeMvt(ordered, EXTENT), { level: GZIP_LEVEL });
}

export function buildPartitionTiles(
  partition: PartitionSpec,
  input: PartitionFeatures,
  options: { budgetBytes: number; maxzoom: number; areaById: Map<number, number> },
): { tiles: BuiltTile[]; dropped: DropCounts } {
  const dropped: DropCounts = {};
  const vtOptions = { maxZoom: options.maxzoom, indexMaxZoom: 0, extent: EXTENT, buffer: BUFFER };
  const indexes = input.layers
    .filter((layer) => layer.features.length > 0)
    .map((layer) => ({ layer, index: new GeoJSONVT({ type: 'FeatureCollection', features: layer.features }, vtOptions) }));
  const pieceLayers = input.pieceLayers.filter((layer) => layer.properties.size > 0);
  const pieceIndex = pieceLayers.length > 0 ? new GeoJSONVT({ type: 'FeatureCollection', features: input.pieces }, vtOptions) : null;

  // Tiles to cut: those under the partition that some feature's box touches, per zoom.
  const keys = new Set<string>();
  const addKeys = (features: BoxedFeature[], zooms: [number, number]): void => {
    const from = Math.max(zooms[0], partition.zooms[0]);
    const to = Math.min(zooms[1], partition.zooms[1]);
    for (const feature of features) {
      const box = feature.geometry.bbox;
      for (let z = from; z <= to; z++) {
        const scale = 2 ** (z - partition.z);
        const r = tileRange(box, z);
        const minX = Math.max(r.minX, partition.x * scale);
        const maxX = Math.min(r.maxX, (partition.x + 1) * scale - 1);
        const minY = Math.max(r.minY, partition.y * scale);
        const maxY = Math.min(r.maxY, (partition.y + 1) * scale - 1);
        for (let x = minX; x <= maxX; x++) for (let y = minY; y <= maxY; y++) keys.add(`${z}/${x}/${y}`);
      }
    }
  };
  for (const { layer } of indexes) addKeys(layer.features, layer.zooms);
  if (pieceIndex) {
    const zooms: [number, number] = [Math.min(...pieceLayers.map((l) => l.zooms[0])), Math.max(...pieceLayers.map((l) => l.zooms[1]))];
    addKeys(input.pieces, zooms);
  }
  const coords = [...keys].map((k) => k.split('/').map(Number) as [number, number, number]).map(([z, x, y]) => ({ z, x, y, tileId: zxyToTileId(z, x, y) }));
  coords.sort((a, b) => a.tileId - b.tileId);

  const droppable = new Set([...input.layers, ...pieceLayers].filter((l) => l.droppable).map((l) => l.name));
  const tiles: BuiltTile[] = [];
  for (const { z, x, y, tileId } of coords) {
    const tileLayers: MvtLayer[] = [];
    for (const { layer, index } of indexes) {
      if (z < layer.zooms[0] || z > layer.zooms[1]) continue;
      const tile = index.getTile(z, x, y);
      if (tile && tile.features.length > 0) tileLayers.push({ name: layer.name, features: tile.features, properties: tile.features.map((f: GeoJSONVTFeature) => f.tags) });
    }
    const pieceTile = pieceIndex?.getTile(z, x, y);
    if (pieceTile) {
      for (const layer of pieceLayers) {
        if (z < layer.zooms[0] || z > layer.zooms[1]) continue;
        const tileLayer: MvtLayer = { name: layer.name, features: [], properties: [] };
        for (const feature of pieceTile.features) {
          const properties = layer.properties.get(Number(feature.id));
          if (properties === undefined) continue;
          tileLayer.features.push(feature);
          tileLayer.properties.push(properties);
        }
        if (tileLayer.features.length > 0) tileLayers.push(tileLayer);
      }
    }
    if (tileLayers.length === 0) continue;
    let gzip = encode(tileLayers);
    if (gzip.length > options.budgetBytes) gzip = shrinkToBudget(tileLayers, droppable, z, options, dropped);
    tiles.push({ z, x, y, tileId, gzip, hash: createHash('sha256').update(gzip).digest('hex') });
  }
  return { tiles, dropped };
}

/** Drops the smallest droppable features, in growing shares, until the tile fits; counts what went. */
function shrinkToBudget(
  tileLayers: MvtLayer[],
  droppable: ReadonlySet<string>,
  z: number,
  options: { budgetBytes: number; areaById: Map<number, number> },
  dropped: DropCounts,
): Buffer {
  const candidates: Array<{ layer: string; id: number; area: number }> = [];
  for (const { name, features } of tileLayers) {
    if (!droppable.has(name)) continue;
    for (const f of features) {
      const id = Number(f.id);
      candidates.push({ layer: name, id, area: options.areaById.get(id) ?? 0 });
    }
  }
  candidates.sort((a, b) => a.area - b.area || a.id - b.id || (a.layer < b.layer ? -1 : a.layer > b.layer ? 1 : 0));
  for (const share of [0.1, 0.2, 0.35, 0.5, 0.7, 0.85, 1]) {
    const cut = candidates.slice(0, Math.ceil(candidates.length * share));
    const gone = new Set(cut.map((c) => `${c.layer}#${c.id}`));
    const kept: MvtLayer[] = [];
    for (const layer of tileLayers) {
      if (!droppable.has(layer.name)) {
        kept.push(layer);
        continue;
      }
      const left: MvtLayer = { name: layer.name, features: [], properties: [] };
      layer.features.forEach((f, i) => {
        if (gone.has(`${layer.name}#${Number(f.id)}`)) return;
        left.features.push(f);
        left.properties.push(layer.properties[i]!);
      });
      if (left.features.length > 0) kept.push(left);
    }
    const gzip = encode(kept);
    if (gzip.length <= options.budgetBytes || share === 1) {
      for (const c of cut) addDrop(dropped, c.layer, z, 1);
      if (gzip.length > options.budgetBytes) throw new Error(`tile at zoom ${z} is ${gzip.length} bytes even without droppable features`);
      return gzip;
    }
  }
  throw new Error('unreachable: the last share drops every candidate');
}
